from video_rewards.serve.cli import main

raise SystemExit(main())
