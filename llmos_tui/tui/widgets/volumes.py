"""The volume explorer: system / teams / users → artifact kinds → artifacts, with a preview.

The tree is filled lazily: the app loads the volumes (with counts) and, when a kind is expanded,
its artifacts, in workers; the widget asks for them with messages and shows what it is given.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from rich.syntax import Syntax
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widgets import Markdown, Static, Tree
from textual.widgets.tree import TreeNode

from ...workspace import VOLUME_KINDS
from ..data import ArtifactPreview, VolumeSummary
from ..format import format_when, short
from ..keymap import bindings_for


@dataclass(frozen=True)
class NodeRef:
    """What a tree node stands for."""

    level: str  # root | group | volume | kind | artifact | more
    scope: str | None = None
    kind: str | None = None
    name: str | None = None


class VolumeTree(Tree[NodeRef]):
    """The tree; ``p`` promotes the highlighted artifact, left/right collapse and expand."""

    BINDINGS = [
        *bindings_for("volumes"),
        Binding("right", "expand", "Expand", show=False),
        Binding("left", "collapse", "Collapse", show=False),
    ]

    @dataclass
    class Act(Message):
        action: str

    def action_promote(self) -> None:
        self.post_message(self.Act("promote"))

    def action_refresh(self) -> None:
        self.post_message(self.Act("refresh"))

    def action_expand(self) -> None:
        node = self.cursor_node
        if node is not None and node.allow_expand and not node.is_expanded:
            node.expand()
        elif node is not None and node.children:
            self.action_cursor_down()

    def action_collapse(self) -> None:
        node = self.cursor_node
        if node is None:
            return
        if node.is_expanded and node.allow_expand:
            node.collapse()
        elif node.parent is not None and node.parent is not self.root:
            self.move_cursor(node.parent)


class VolumeExplorer(Vertical):
    """Tree on top, preview below."""

    @dataclass
    class Wanted(Message):
        """Load something: ``volumes`` (the tree), ``kind`` (one kind's artifacts), ``artifact`` (a preview)."""

        what: str
        scope: str | None = None
        kind: str | None = None
        name: str | None = None

    @dataclass
    class PromoteRequested(Message):
        scope: str
        kind: str
        name: str

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._kind_nodes: dict[tuple[str, str], TreeNode[NodeRef]] = {}
        self._preview_key: tuple[str, str, str] | None = None
        self._restore: NodeRef | None = None
        self.loaded = False

    def compose(self) -> ComposeResult:
        tree: VolumeTree = VolumeTree(Text("volumes"), data=NodeRef("root"), id="volume-tree")
        tree.show_root = False
        yield tree
        with VerticalScroll(id="volume-preview"):
            yield Static(
                Content.styled("Select an artifact to preview it.", "$foreground-muted"),
                id="volume-meta",
                markup=False,
            )
            yield Markdown(id="volume-body")
            yield Static(id="volume-code", markup=False)

    @property
    def volume_tree(self) -> VolumeTree:
        return self.query_one(VolumeTree)

    def on_mount(self) -> None:
        self.query_one("#volume-preview").border_title = "Preview"

    # ---- filling ---------------------------------------------------------------------------
    def show_volumes(
        self, volumes: list[VolumeSummary], *, user_volume: str, team_volume: str
    ) -> None:
        """(Re)build the tree from the volumes' summaries; expanded kinds are reloaded."""
        tree = self.volume_tree
        expanded = {key for key, node in self._kind_nodes.items() if node.is_expanded}
        cursor = tree.cursor_node.data if tree.cursor_node is not None else None
        tree.clear()
        self._kind_nodes.clear()
        groups: dict[str, TreeNode[NodeRef]] = {}
        order = {"system": 0, "team": 1, "user": 2}
        for vol in sorted(volumes, key=lambda v: (order.get(v.type, 3), v.scope)):
            group_name = {"system": None, "team": "teams", "user": "users"}.get(vol.type)
            parent = tree.root
            if group_name is not None:
                if group_name not in groups:
                    groups[group_name] = tree.root.add(
                        Text(group_name, style="bold"), data=NodeRef("group"), expand=True
                    )
                parent = groups[group_name]
            total = sum(vol.counts.values())
            label = Text(
                vol.scope if vol.type == "system" else vol.scope.split("/", 1)[1], style="bold"
            )
            mine = {user_volume: " (you)", team_volume: " (your team)"}.get(vol.scope, "")
            label.append(f"{mine}  {total}", style="dim")
            if vol.problems:
                label.append(f"  {vol.problems} unreadable", style="red")
            vnode = parent.add(
                label,
                data=NodeRef("volume", vol.scope),
                expand=vol.scope in (user_volume,) or any(k[0] == vol.scope for k in expanded),
            )
            for kind in VOLUME_KINDS:
                count = vol.counts.get(kind, 0)
                knode = vnode.add(
                    Text.assemble(kind, (f"  {count}", "dim")),
                    data=NodeRef("kind", vol.scope, kind),
                    allow_expand=count > 0,
                )
                self._kind_nodes[(vol.scope, kind)] = knode
        self.loaded = True
        for key in expanded:
            if key in self._kind_nodes:
                self.post_message(self.Wanted("kind", key[0], key[1]))
        self._restore = cursor
        self.call_after_refresh(self._restore_cursor)
        if (
            self._preview_key is not None
        ):  # the artifact on show may have changed on disk: read it again
            self.post_message(self.Wanted("artifact", *self._preview_key))

    def _restore_cursor(self) -> None:
        """Put the cursor back on the node it was on before a reload (once that node exists)."""
        ref = self._restore
        if ref is None:
            return
        tree = self.volume_tree

        def walk(node: TreeNode[NodeRef]):
            yield node
            for child in node.children:
                yield from walk(child)

        for node in walk(tree.root):
            if node.data == ref:
                tree.move_cursor(node)
                self._restore = None
                return
        if ref.level != "artifact":
            self._restore = None  # an artifact may still come with its kind's listing

    def show_artifacts(self, scope: str, kind: str, names: list[str], total: int) -> None:
        node = self._kind_nodes.get((scope, kind))
        if node is None:
            return
        node.remove_children()
        for name in names:
            node.add_leaf(Text(name), data=NodeRef("artifact", scope, kind, name))
        if total > len(names):
            node.add_leaf(
                Text(
                    f"… {total - len(names):,} more (the trace browser lists them all)", style="dim"
                ),
                data=NodeRef("more", scope, kind),
            )
        if not names:
            node.add_leaf(Text("(empty)", style="dim"), data=NodeRef("more", scope, kind))
        node.expand()
        if (
            self._restore is not None
            and self._restore.scope == scope
            and self._restore.kind == kind
        ):
            self.call_after_refresh(self._restore_cursor)

    @on(Tree.NodeExpanded, "#volume-tree")
    def _expanded(self, event: Tree.NodeExpanded[NodeRef]) -> None:
        ref = event.node.data
        if ref is not None and ref.level == "kind" and not event.node.children:
            event.node.add_leaf(
                Text("loading…", style="dim"), data=NodeRef("more", ref.scope, ref.kind)
            )
            self.post_message(self.Wanted("kind", ref.scope, ref.kind))

    @on(Tree.NodeHighlighted, "#volume-tree")
    def _highlighted(self, event: Tree.NodeHighlighted[NodeRef]) -> None:
        ref = event.node.data
        if ref is None or ref.level != "artifact":
            self._preview_key = None
            self._describe(ref)
            return
        key = (ref.scope or "", ref.kind or "", ref.name or "")
        if key != self._preview_key:
            self._preview_key = key
            self.post_message(self.Wanted("artifact", ref.scope, ref.kind, ref.name))

    def _describe(self, ref: NodeRef | None) -> None:
        muted = "$foreground-muted"
        text = Content.styled(
            "Select an artifact to preview it · p promotes it one level up", muted
        )
        if ref is not None and ref.level == "volume":
            text = Content.assemble(
                ("volumes/", muted),
                (ref.scope or "", "bold"),
                ("\nexpand a kind (→ or enter) to list its artifacts", muted),
            )
        elif ref is not None and ref.level == "kind":
            text = Content.assemble(
                (f"{ref.kind}", "bold"),
                (f" of volumes/{ref.scope}", muted),
                ("\n→ or enter lists them", muted),
            )
        self.query_one("#volume-meta", Static).update(text)
        self.query_one("#volume-body", Markdown).display = False
        self.query_one("#volume-code", Static).display = False

    def current(self) -> NodeRef | None:
        node = self.volume_tree.cursor_node
        return node.data if node is not None else None

    # ---- preview ---------------------------------------------------------------------------
    async def show_preview(self, preview: ArtifactPreview) -> None:
        if (preview.scope, preview.kind, preview.name) != self._preview_key:
            return
        muted = "$foreground-muted"
        meta: list[Content] = [
            Content.assemble(
                (f"{preview.kind}/", muted),
                (preview.name, "bold"),
                (f"  in volumes/{preview.scope}", muted),
            )
        ]
        facts = [f"{preview.size:,} bytes"]
        if preview.version:
            facts.append(f"version {preview.version}")
        meta.append(Content.styled(" · ".join(facts), muted))
        prov = preview.provenance
        if prov:
            origin = prov.get("origin") or {}
            meta.append(
                Content.assemble(
                    ("promoted from ", muted),
                    (str(origin.get("scope") or "?"), "bold"),
                    (f" ({origin.get('name')})" if origin.get("name") else "", muted),
                    (f" by {prov.get('promoted_by')}", muted),
                    (f" at {format_when(prov.get('promoted_at'))}", muted),
                )
            )
            if prov.get("reason"):
                meta.append(Content.assemble(("reason ", muted), short(str(prov["reason"]), 200)))
        body = self.query_one("#volume-body", Markdown)
        code = self.query_one("#volume-code", Static)
        if preview.kind == "tools":
            source = preview.files.get(".py", "")
            manifest = preview.files.get(".json")
            if manifest:
                meta.append(Content.assemble(("manifest ", muted), _manifest_summary(manifest)))
            code.update(
                Syntax(source, "python", line_numbers=True, word_wrap=False, theme="ansi_dark")
            )
            code.display, body.display = True, False
        else:
            await body.update(markdown_with_frontmatter(preview.files.get(".md", "")))
            code.display, body.display = False, True
        self.query_one("#volume-meta", Static).update(Content("\n").join(meta))
        self.query_one("#volume-preview", VerticalScroll).scroll_home(animate=False)

    def show_preview_error(self, scope: str, kind: str, name: str, message: str) -> None:
        if (scope, kind, name) == self._preview_key:
            self.query_one("#volume-meta", Static).update(Content.styled(message, "$text-error"))

    @on(VolumeTree.Act)
    def _act(self, event: VolumeTree.Act) -> None:
        event.stop()
        self.run_action_named(event.action)

    def run_action_named(self, action: str) -> None:
        """A ``volumes`` key action (the tree's keys, or the command palette): refresh or promote."""
        if action == "refresh":
            self.post_message(self.Wanted("volumes"))
            return
        ref = self.current()
        if ref is None or ref.level != "artifact" or not (ref.scope and ref.kind and ref.name):
            self.notify(
                "Select an artifact (a leaf of the tree) to promote it.", severity="warning"
            )
            return
        self.post_message(self.PromoteRequested(ref.scope, ref.kind, ref.name))


def markdown_with_frontmatter(text: str) -> str:
    """Markdown whose YAML frontmatter is shown as a code block (not run into a paragraph)."""
    from edgekit.frontmatter import FrontmatterError, split

    try:
        front, body = split(text)
    except FrontmatterError:
        return text
    return f"```yaml\n{front.strip(chr(10))}\n```\n\n{body.lstrip(chr(10))}"


def _manifest_summary(text: str) -> str:
    try:
        data: Any = json.loads(text)
    except ValueError:
        return "unreadable"
    if not isinstance(data, dict):
        return "unreadable"
    keys = [
        f"{k} {data[k]}" for k in ("status", "version", "source_trace", "usage_count") if k in data
    ]
    return ", ".join(keys) or "—"
