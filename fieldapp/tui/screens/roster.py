"""The first-day import dialog: pick a roster file, see the check's summary and first rows, then confirm the import."""

from __future__ import annotations

import threading
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Input, Label, Select, Static

from fieldapp.kinds import mask_id_number
from fieldapp.roster import Analysis, Options, Outcome, RosterRefused, analyse, import_roster
from fieldapp.store import Store
from fieldapp.tui.safe import row, safe

KIND_CHOICES = [("老年人花名册", "elder"), ("助餐点", "meal_point"), ("志愿者", "volunteer")]


class RosterImportScreen(ModalScreen[int | None]):
    """Check first (nothing saved), then import in a thread worker with its own connection.
    Dismisses with the number of records saved, or None when closed without importing."""

    CSS_PATH = "roster.tcss"
    BINDINGS = [Binding("escape", "close", "关闭")]

    def __init__(self, db_path: Path) -> None:
        super().__init__()
        self.db_path = db_path
        self.analysis: Analysis | None = None
        self.cancel = threading.Event()

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("导入已有花名册（Excel .xlsx 或 CSV）")
            yield Input(placeholder="文件路径，如 /media/u盘/老年人花名册.xlsx", id="roster-path")
            yield Select(KIND_CHOICES, value="elder", allow_blank=False, id="roster-kind")
            yield Static("先检查：不会保存任何记录。", id="roster-summary")
            yield DataTable(id="roster-preview", zebra_stripes=True)
            with Horizontal():
                yield Button("检查", id="roster-check", variant="primary")
                yield Button("导入", id="roster-import", variant="success", disabled=True)
                yield Button("关闭", id="roster-close")

    def _path_kind(self) -> tuple[Path, str]:
        kind = self.query_one("#roster-kind", Select).value
        return Path(self.query_one("#roster-path", Input).value.strip()), str(kind)

    @on(Button.Pressed, "#roster-check")
    @on(Input.Submitted, "#roster-path")
    def start_check(self) -> None:
        self.query_one("#roster-import", Button).disabled = True
        self.query_one("#roster-summary", Static).update("正在检查…")
        self.check_file(*self._path_kind())

    @work(thread=True, exclusive=True, exit_on_error=False, group="roster")
    def check_file(self, path: Path, kind: str) -> None:
        try:
            with Store.open(self.db_path, create=False) as store:
                a = analyse(store, path, kind, Options(cancel=self.cancel))
        except RosterRefused as e:
            self.app.call_from_thread(self._refused, e.zh)
        except OSError as e:
            self.app.call_from_thread(self._refused, f"无法读取文件：{e.strerror}")
        else:
            self.app.call_from_thread(self._checked, a)

    def _refused(self, message: str) -> None:
        self.analysis = None
        self.query_one("#roster-summary", Static).update(safe(f"未导入：{message}"))
        self.query_one("#roster-import", Button).disabled = True

    def _checked(self, a: Analysis) -> None:
        self.analysis = a
        lines = [a.summary(), *(i.text() for i in a.issues[:5])]
        if len(a.issues) > 5:
            lines.append(
                f"…共 {len(a.issues)} 个问题（命令 fieldapp import-roster --report 可导出问题清单）"
            )
        if a.issues and a.ready:
            lines.append("按「导入」只导入没有问题的行。")
        self.query_one("#roster-summary", Static).update(safe("\n".join(lines), lines=True))
        self._preview(a)
        self.query_one("#roster-import", Button).disabled = not a.ready

    def _preview(self, a: Analysis) -> None:
        table = self.query_one("#roster-preview", DataTable)
        table.clear(columns=True)
        cols = sorted(a.mapping.columns)
        table.add_columns("行", *(a.mapping.headers[i] or f"列{i + 1}" for i in cols))
        bad = set(a.bad_rows)
        for number, cells in a.preview:
            shown = []
            for i in cols:
                v = cells[i] if i < len(cells) else None
                text = "" if v is None else str(v)
                if a.mapping.columns[i] == "id_number" and text:
                    text = mask_id_number(text)  # SPEC §9: masked everywhere but the edit form
                elif a.mapping.columns[i] == "birth_date" and len(text) > 4:
                    text = text[:4] + "*" * (len(text) - 4)  # the year only: the age shows no more
                shown.append(text)
            table.add_row(*row(f"{number}{' ✗' if number in bad else ''}", *shown))

    @on(Button.Pressed, "#roster-import")
    def start_import(self) -> None:
        if self.analysis is None:
            return
        self.query_one("#roster-import", Button).disabled = True
        self.query_one("#roster-summary", Static).update("正在导入…")
        self.import_file(*self._path_kind())

    @work(thread=True, exclusive=True, exit_on_error=False, group="roster")
    def import_file(self, path: Path, kind: str) -> None:
        opts = Options(skip_invalid=True, cancel=self.cancel, progress=self._progress)
        try:
            with Store.open(self.db_path, create=False) as store:
                out = import_roster(store, path, kind, opts)
        except RosterRefused as e:
            self.app.call_from_thread(self._refused, e.zh)
        else:
            self.app.call_from_thread(self._imported, out)

    def _progress(self, stage: str, done: int, total: int | None) -> None:
        of = f"/{total}" if total else ""
        self.app.call_from_thread(
            self.query_one("#roster-summary", Static).update, f"{stage} {done}{of} 行…"
        )

    def _imported(self, out: Outcome) -> None:
        self.query_one("#roster-summary", Static).update(
            f"已导入 {out.saved} 条记录；已在库中 {len(out.analysis.existing)} 行，"
            f"有问题未导入 {len(out.analysis.bad_rows)} 行。"
        )
        self.dismiss(out.saved)

    @on(Button.Pressed, "#roster-close")
    def action_close(self) -> None:
        self.cancel.set()
        self.dismiss(None)
