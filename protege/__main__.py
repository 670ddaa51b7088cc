from protege.cli import main

raise SystemExit(main())
