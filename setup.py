"""session-features: Agno sessions in MongoDB → one row of features per session.

Also the package Beam ships to remote workers: `--setup_file ./setup.py`.
"""

from setuptools import find_packages, setup

setup(
    name="session-features",
    version="0.1.0",
    description="Apache Beam pipeline: Agno agent sessions in MongoDB → an exact ML feature dataset",
    python_requires=">=3.11",
    packages=find_packages(include=["pipeline", "pipeline.*", "transforms", "transforms.*"]),
    # Workers need only these; pins that work together live in requirements.txt.
    install_requires=[
        "apache-beam[aws]>=2.77,<3",
        "pymongo>=4.9,<5",
        "numpy>=2.0,<3",
        "boto3>=1.35",
        "orjson>=3.9,<4",  # fast dump reading; without it json_util reads the same documents
        "msgspec>=0.18,<0.20",  # a dump's run lines decoded into the fields the rules read
        "jinja2>=3.1,<4",  # report.html (the launcher only)
    ],
    package_data={"pipeline": ["templates/*.html"]},
    entry_points={"console_scripts": ["session-features=pipeline.main:main"]},
)
