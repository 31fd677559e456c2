from finmatch_agents.cli import main

main()
