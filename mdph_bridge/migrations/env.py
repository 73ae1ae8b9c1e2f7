"""Alembic environment: the URL comes from the app settings, never from a file."""

from __future__ import annotations

from alembic import context

from mdph_bridge.extensions import make_engine
from mdph_bridge.models import Base

config = context.config


def run_migrations() -> None:
    """Run the migrations online, with a lock timeout so a busy table fails fast on PostgreSQL."""
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("sqlalchemy.url is not set: use mdph_bridge.migrations.alembic_config")
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql("SET lock_timeout = '10s'")
                connection.commit()  # a session setting; Alembic must start the transaction
            context.configure(
                connection=connection,
                target_metadata=Base.metadata,
                compare_type=True,
                render_as_batch=connection.dialect.name == "sqlite",
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()  # a refused migration's connection too (0018's downgrade)


run_migrations()
