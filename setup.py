"""The repository keeps train/ and schemas/ at the top level; they install as datatools.train and
datatools.schemas, so a user's own train.py or schemas.py in the working folder cannot shadow them.

The compiled kernels (datatools/native/*.c) are an optional extension: where no C compiler is
found the install still succeeds and the same results come from numpy and the per-line reader,
slower."""
from setuptools import Extension, find_packages, setup

NESTED = ("train", "schemas")
packages = find_packages(include=["datatools", "datatools.*"])
packages += [f"datatools.{p}" for p in find_packages(include=[f"{n}{s}" for n in NESTED for s in ("", ".*")])]
kernels = Extension("datatools.native._kernels",
                    [f"datatools/native/{c}.c" for c in ("module", "dedup", "trl_screen", "trl_ids", "words")],
                    extra_compile_args=["-O3"], optional=True)
setup(packages=packages, package_dir={f"datatools.{n}": n for n in NESTED}, ext_modules=[kernels])
