"""The repository keeps train/ and schemas/ at the top level; they install as datatools.train and
datatools.schemas, so a user's own train.py or schemas.py in the working folder cannot shadow them."""
from setuptools import find_packages, setup

NESTED = ("train", "schemas")
packages = find_packages(include=["datatools", "datatools.*"])
packages += [f"datatools.{p}" for p in find_packages(include=[f"{n}{s}" for n in NESTED for s in ("", ".*")])]
setup(packages=packages, package_dir={f"datatools.{n}": n for n in NESTED})
