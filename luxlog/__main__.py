"""``python -m luxlog`` behaves exactly like the ``luxlog`` console script."""

from luxlog.start import main

if __name__ == "__main__":
    main()
