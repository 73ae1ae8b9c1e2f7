"""WSGI entry point for gunicorn: `gunicorn mdph_bridge.wsgi:app`."""

import os

from dotenv import load_dotenv

from mdph_bridge import create_app
from mdph_bridge.extensions import warm_up

os.umask(0o077)  # the files and folders the web side creates are its owner's only
load_dotenv(".env")  # the working directory's, as for the CLI
app = create_app()
warm_up()  # in each gunicorn worker, which imports this module after the fork
