"""``python -m luxlog`` behaves exactly like the ``luxlog`` console script."""

from luxlog.launcher import main

if __name__ == "__main__":
    main()
