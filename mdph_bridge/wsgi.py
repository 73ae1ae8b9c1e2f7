"""WSGI entry point for gunicorn: `gunicorn mdph_bridge.wsgi:app`."""

from dotenv import load_dotenv

from mdph_bridge import create_app

load_dotenv()
app = create_app()
