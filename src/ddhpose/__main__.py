from ddhpose.cli import main

raise SystemExit(main())
