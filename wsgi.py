from orchestrator import create_app

app = create_app()
