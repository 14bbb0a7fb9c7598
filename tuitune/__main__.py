"""`python -m tuitune` is the `tuitune` command."""

from tuitune.cli import main

if __name__ == "__main__":
    main()
