"""`python -m slimnas` runs the command-line tool."""

from slimnas.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
