"""Build the client-only distribution from the repository's own modules, and only those."""

from setuptools import setup
from setuptools.command.build_py import build_py

# The modules the client imports, by package; the hub's other modules stay out.
MODULES = {
    "mdph_bridge": {"__init__", "keyfiles"},
    "mdph_bridge.domain": {
        "__init__",
        "age",
        "checkpoints",
        "hashing",
        "keyids",
        "manifest",
        "reception",
        "signing",
    },
}


class ClientOnly(build_py):
    """Copy only the listed modules of the shared packages."""

    def find_package_modules(self, package: str, package_dir: str) -> list[tuple[str, str, str]]:
        """Keep the modules the client uses (every one of mdph_bridge.client)."""
        found = super().find_package_modules(package, package_dir)
        keep = MODULES.get(package)
        return [module for module in found if keep is None or module[1] in keep]


setup(cmdclass={"build_py": ClientOnly})
