"""`python -m datatools ...`: the same commands as the `datatools` console script."""
from datatools.cli import app

if __name__ == "__main__":
    app(prog_name="datatools")
