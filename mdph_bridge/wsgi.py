"""WSGI entry point for gunicorn: `gunicorn mdph_bridge.wsgi:app`."""

from dotenv import load_dotenv

from mdph_bridge import create_app

load_dotenv(".env")  # the working directory's, as for the CLI
app = create_app()
