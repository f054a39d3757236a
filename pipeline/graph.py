"""The pipeline graph: read → normalize → group → combine → format → write.

This module only wires named transforms."""

from __future__ import annotations

import apache_beam as beam

from pipeline.options import Config
from pipeline.sources import source_for
from transforms.features import ComputeFeatures
from transforms.normalize import NormalizeSessions
from transforms.profile import PROFILE_PREFIX, WriteProfile
from transforms.quarantine import CountQuarantine
from transforms.slicing import WHOLE, Slice
from transforms.tables import COMPANIONS
from transforms.write import WriteDataset


class CountAs(beam.PTransform):
    """(name, number of elements), 0 for an empty input."""

    def __init__(self, name: str):
        super().__init__()
        self.name = name

    def expand(self, pcoll):
        return pcoll | beam.combiners.Count.Globally() | beam.Map(lambda n, k=self.name: (k, n))


def build(p: beam.Pipeline, cfg: Config, run_dir: str, part: Slice = WHOLE) -> None:
    """The whole job for the window, or for one slice of it (pipeline/slices.py), its
    files named by the slice's tag."""
    source = source_for(cfg).read(part)
    read = p | "ReadSessions" >> source
    sessions, quarantine, counts, candidates = read | "NormalizeSessions" >> NormalizeSessions(cfg.window)
    companions = tuple(name for name in cfg.tables if name in COMPANIONS)
    computed = sessions | "ComputeFeatures" >> ComputeFeatures(companions)
    tables = computed if companions else {"sessions": computed}
    rows = tables["sessions"]
    orphans = source.orphans(candidates)
    all_counts = (
        counts,
        read["sessions"] | "CountRead" >> CountAs("sessions_read"),
        rows | "CountRows" >> CountAs("rows_written"),
        quarantine | "CountQuarantined" >> CountQuarantine(),  # and unreadable_records
        orphans | "OrphanCounts" >> beam.Map(lambda n: ("orphaned_runs", n)),
    ) | "AllCounts" >> beam.Flatten()
    write = WriteDataset(run_dir, cfg.num_shards, cfg.format, part.tag)
    (rows, quarantine, all_counts, {n: tables[n] for n in companions}) | "WriteDataset" >> write
    (tables, quarantine) | "WriteProfile" >> WriteProfile(write._path(PROFILE_PREFIX))
