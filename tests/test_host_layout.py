"""The host side's imports, read from its source: it works on real hardware, so it never
imports the virtual module; connections know the clients only as runners of procedures."""

from __future__ import annotations

import ast
from pathlib import Path

HOST = Path(__file__).parent.parent / "src" / "bg96" / "host"


def imports(path: Path) -> set[str]:
    """The modules a file imports, relative ones resolved inside ``bg96``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = "bg96.host" if node.level == 1 else "bg96" if node.level == 2 else ""
            module = f"{base}.{node.module}" if base and node.module else node.module or base
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def test_the_host_side_never_imports_the_virtual_module() -> None:
    for path in HOST.glob("*.py"):
        bad = {m for m in imports(path) if m.startswith(("bg96.engine", "bg96.module"))}
        assert not bad, f"{path.name} imports {bad}"


def test_no_host_module_imports_the_clients_but_the_package() -> None:
    clients = {"bg96.host.client", "bg96.host.aclient"}
    for path in HOST.glob("*.py"):
        if path.name in ("__init__.py", "client.py", "aclient.py"):
            continue
        found = {m for m in imports(path) if m in clients or m.rsplit(".", 1)[0] in clients}
        assert not found, f"{path.name} imports {found}"
