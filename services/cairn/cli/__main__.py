from cairn.cli.main import app

app()
