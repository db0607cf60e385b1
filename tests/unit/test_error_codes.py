"""Every reason code the code base raises is in cairn.core.domain.error_codes, with the same status.

A static scan (ast) of services/: the reason of every InvalidInput, ApiError, error_response,
access Decision, input-guard Problem and CairnError, every dead letter the ledger or indexer
writes, every `reason = ...` and every comparison with a `.reason`. An f-string reason such as
`invalid_{what}` is expanded through the literal arguments its function is called with.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from cairn.api.errors import Reason
from cairn.core.domain.error_codes import CODES, FAMILIES, Where, answer, known

from scripts.error_codes import README, render, updated

SERVICES = Path(__file__).resolve().parents[2] / "services"
# call name -> (index of the reason argument, index of the status argument or None)
RAISERS = {"InvalidInput": (0, None), "ApiError": (1, 0), "error_response": (1, 0),
           "Decision": (2, 1), "Problem": (0, None), "CairnError": (0, None),
           "BlobStoreUnavailable": (0, None)}


Def = ast.FunctionDef | ast.AsyncFunctionDef


@dataclass(frozen=True)
class Function:
    module: str
    node: Def


@dataclass
class Scan:
    """What a scan found: literal codes (code -> where), statuses, and what it could not read."""

    codes: dict[str, set[str]] = field(default_factory=dict)
    statuses: list[tuple[str, int, str]] = field(default_factory=list)  # (code, status, where)
    unreadable: list[str] = field(default_factory=list)
    templates: list[tuple[str, Function, str, str, str]] = field(default_factory=list)
    # (where, function, parameter, prefix, suffix) of f-strings built from a parameter
    calls: dict[str, list[tuple[ast.Call, Function | None, str]]] = \
        field(default_factory=dict)  # function name -> (call, caller, caller's module)
    imports: dict[str, dict[str, str]] = field(default_factory=dict)  # module -> name -> from
    constants: dict[str, dict[str, ast.expr]] = field(default_factory=dict)  # module -> ...

    def add(self, code: str, where: str) -> None:
        self.codes.setdefault(code, set()).add(where)


def _name(func: ast.expr) -> str | None:
    return func.id if isinstance(func, ast.Name) else \
        func.attr if isinstance(func, ast.Attribute) else None


def _parents(tree: ast.AST) -> Iterator[tuple[ast.AST, Def | None, str | None]]:
    """Each node with its enclosing function and class."""
    stack: list[tuple[ast.AST, Def | None, str | None]] = [(tree, None, None)]
    while stack:
        node, fn, cls = stack.pop()
        yield node, fn, cls
        for child in ast.iter_child_nodes(node):
            stack.append((child, child if isinstance(child, Def) else fn,
                          child.name if isinstance(child, ast.ClassDef) else cls))


def _constants(tree: ast.Module) -> dict[str, ast.expr]:
    """Module-level `NAME = value` and `A, B = "a", "b"`."""
    found: dict[str, ast.expr] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign | ast.AnnAssign) and stmt.value is not None:
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    found[target.id] = stmt.value
                elif isinstance(target, ast.Tuple) and isinstance(stmt.value, ast.Tuple):
                    for t, v in zip(target.elts, stmt.value.elts, strict=False):
                        if isinstance(t, ast.Name):
                            found[t.id] = v
    return found


def _params(fn: Function | None) -> list[str]:
    args = None if fn is None else fn.node.args
    return [] if args is None else [a.arg for a in args.posonlyargs + args.args
                                    + args.kwonlyargs]


def _reasons(expr: ast.expr, scan: Scan, where: str, consts: dict[str, ast.expr],
             fn: Function | None) -> list[str]:
    """The literal codes `expr` can be; pass-throughs (`exc.reason`) give none."""
    if isinstance(expr, ast.Constant):
        return [expr.value] if isinstance(expr.value, str) else []
    if isinstance(expr, ast.Tuple | ast.List | ast.Set):
        return [r for e in expr.elts for r in _reasons(e, scan, where, consts, fn)]
    if isinstance(expr, ast.Attribute):
        if isinstance(expr.value, ast.Name) and expr.value.id == "Reason":
            return [Reason[expr.attr].value]
        if expr.attr == "reason":
            return []  # passed through from an exception or decision made elsewhere
    if isinstance(expr, ast.Name):
        imported = scan.constants.get(scan.imports.get(fn.module if fn else "", {}).get(
            expr.id, ""), {})
        value = consts.get(expr.id, imported.get(expr.id))
        if value is not None:
            return [c.value for c in ast.walk(value)
                    if isinstance(c, ast.Constant) and isinstance(c.value, str)]
        if expr.id == "reason":
            return []  # a variable: its assignment is scanned
    if isinstance(expr, ast.IfExp):
        return _reasons(expr.body, scan, where, consts, fn) + \
            _reasons(expr.orelse, scan, where, consts, fn)
    if isinstance(expr, ast.BoolOp):
        return [r for v in expr.values for r in _reasons(v, scan, where, consts, fn)]
    if isinstance(expr, ast.Call) and _name(expr.func) in ("getattr", "get"):
        default = expr.args[-1] if len(expr.args) == (3 if _name(expr.func) == "getattr" else 2) \
            else None
        return [] if default is None else _reasons(default, scan, where, consts, fn)
    if isinstance(expr, ast.JoinedStr):
        parts = expr.values
        prefix = parts[0].value if parts and isinstance(parts[0], ast.Constant) else ""
        holes = [p for p in parts if isinstance(p, ast.FormattedValue)]
        suffix = parts[-1].value if isinstance(parts[-1], ast.Constant) and len(parts) > 1 \
            else ""
        if len(holes) == 1 and isinstance(holes[0].value, ast.Name) and fn is not None \
                and holes[0].value.id in _params(fn):
            scan.templates.append((where, fn, holes[0].value.id, str(prefix), str(suffix)))
            return []
        if not any(str(prefix).startswith(family) for family in FAMILIES):
            scan.unreadable.append(f"{where}: f-string reason {ast.unparse(expr)}")
        return []
    scan.unreadable.append(f"{where}: cannot tell the reason of {ast.unparse(expr)}")
    return []


def _module(path: str) -> str:
    return path.removesuffix(".py").replace("/", ".")


def _read(tree: ast.Module, module: str, scan: Scan) -> None:
    """What the scan of any module may need from this one: its imports and constants."""
    scan.imports[module] = {a.asname or a.name: n.module for n in ast.walk(tree)
                            if isinstance(n, ast.ImportFrom) and n.module for a in n.names}
    scan.constants[module] = _constants(tree)


def scan_source(tree: ast.Module, path: str, scan: Scan) -> None:
    module = _module(path)
    consts = scan.constants[module]
    for node, fn, cls in _parents(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            scan.calls.setdefault(node.func.id, []).append(
                (node, None if fn is None else Function(module, fn), module))
        where = f"{path}:{getattr(node, 'lineno', 0)}"
        exprs: list[ast.expr] = []
        status: ast.expr | None = None
        if isinstance(node, ast.Call):
            name = _name(node.func)
            if name == "cls" and cls in RAISERS:
                name = cls
            if name in RAISERS and cls != name:
                at, status_at = RAISERS[name]
                if len(node.args) > at:
                    exprs.append(node.args[at])
                if status_at is not None and len(node.args) > status_at:
                    status = node.args[status_at]
            elif name == "append" and (_name(node.func.value)  # type: ignore[attr-defined]
                                       or "").endswith("dead") and node.args \
                    and isinstance(node.args[0], ast.Tuple):
                exprs.append(node.args[0].elts[1])
        elif isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "reason" for t in node.targets):
            exprs.append(node.value)
        elif isinstance(node, ast.Compare) and any(
                isinstance(e, ast.Attribute) and e.attr == "reason"
                for e in [node.left, *node.comparators]):
            exprs.extend(e for e in [node.left, *node.comparators]
                         if not (isinstance(e, ast.Attribute) and e.attr == "reason"))
        for expr in exprs:
            codes = _reasons(expr, scan, where, consts,
                             None if fn is None else Function(module, fn))
            for code in codes:
                scan.add(code, where)
                if isinstance(status, ast.Constant) and isinstance(status.value, int):
                    scan.statuses.append((code, status.value, where))


def _expand(scan: Scan, fn: Function, param: str, seen: set[tuple[Function, str]]) -> set[str]:
    """The literal values `param` of `fn` takes at its call sites (in its module, or one that
    imports it by name) and its default, following a parameter passed on from another function."""
    if (fn, param) in seen:
        return set()
    seen.add((fn, param))
    args = fn.node.args
    positional = [a.arg for a in args.posonlyargs + args.args]
    defaults = dict(zip(positional[len(positional) - len(args.defaults):], args.defaults,
                        strict=True))
    values: set[str] = set()
    if isinstance(default := defaults.get(param), ast.Constant):
        values.add(str(default.value))
    for call, caller, module in scan.calls.get(fn.node.name, []):
        if module != fn.module and scan.imports[module].get(fn.node.name) != fn.module:
            continue
        arg = next((k.value for k in call.keywords if k.arg == param), None)
        if arg is None and param in positional and positional.index(param) < len(call.args):
            arg = call.args[positional.index(param)]
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            values.add(arg.value)
        elif isinstance(arg, ast.Name) and caller is not None and arg.id in _params(caller):
            values |= _expand(scan, caller, arg.id, seen)
    return values


@cache
def scan_services() -> Scan:
    """services/, but event_types.py: generated from the Avro schemas, it raises nothing."""
    return scan_sources({str(p.relative_to(SERVICES)): p.read_text()
                         for p in sorted(SERVICES.rglob("*.py"))
                         if p.name != "event_types.py"})


def scan_sources(sources: dict[str, str]) -> Scan:
    """What `sources` (path -> text) raise, compare and dead-letter."""
    scan = Scan()
    trees = {path: ast.parse(text) for path, text in sources.items()}
    for path, tree in trees.items():
        _read(tree, _module(path), scan)
    for path, tree in trees.items():
        scan_source(tree, path, scan)
    for where, function, param, prefix, suffix in scan.templates:
        values = _expand(scan, function, param, set())
        if not values:
            scan.unreadable.append(f"{where}: no literal {param} reaches {function.node.name}")
        for value in values:
            scan.add(f"{prefix}{value}{suffix}", where)
    return scan


def _problems(scan: Scan) -> list[str]:
    missing = [f"{code} (at {', '.join(sorted(at))})" for code, at in sorted(scan.codes.items())
               if not known(code)]
    wrong = [f"{where}: {code} answered {status}, the table says {answer(code)[0]}"
             for code, status, where in scan.statuses if code in CODES
             and CODES[code].status != status]
    return [*(f"not in cairn.core.domain.error_codes: {m}" for m in missing), *wrong,
            *scan.unreadable]


def test_every_raised_reason_is_registered_with_its_status() -> None:
    scan = scan_services()
    assert len(scan.codes) > 100  # the scan does find the code base's reasons
    assert _problems(scan) == []


def test_every_registered_code_is_raised_somewhere() -> None:
    raised = set(scan_services().codes) | {r.value for r in Reason}
    assert sorted(set(CODES) - raised) == []


def test_a_new_reason_or_a_wrong_status_fails_the_scan() -> None:
    """What a change adding a reason without registering it, or answering a registered one
    with another status, looks like to the test above."""
    found = scan_sources({"synthetic.py": (
        "def check(x):\n"
        "    raise InvalidInput('brand_new_reason', 'x')\n"
        "def refuse():\n"
        "    raise ApiError(404, 'name_taken', 'x')\n"
        "def kinds(kind):\n"
        "    raise InvalidInput(f'invalid_{kind}', 'x')\n"
        "kinds('gizmo')\n"
        "def odd(x):\n"
        "    raise InvalidInput(x.lower(), 'x')\n")})
    problems = _problems(found)
    assert any("brand_new_reason (at synthetic.py:2)" in p for p in problems)
    assert "synthetic.py:4: name_taken answered 404, the table says 409" in problems
    assert any("invalid_gizmo" in p for p in problems)
    assert any(p.startswith("synthetic.py:9: cannot tell") for p in problems)


def test_the_api_answers_each_code_with_the_table_s_status() -> None:
    assert answer("invalid_name") == (400, "invalid_name")
    assert answer("blob_too_large") == (413, "too_large")
    assert answer("unknown_stage") == (422, "unknown_stage")
    assert answer("stage_order") == (400, "stage_order")  # never the api's, still a 400
    for reason in Reason:
        assert CODES[reason].where is Where.API and CODES[reason].status is not None


def test_the_readme_table_is_the_registry() -> None:
    readme = README.read_text()
    assert render() in readme, "stale: run `python scripts/error_codes.py`"
    assert updated(readme) == readme
