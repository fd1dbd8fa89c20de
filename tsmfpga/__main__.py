from tsmfpga.cli import main

raise SystemExit(main())
