"""The supervisor's screens' own words (devices, checklist, merge log, review context), added to
`i18n.WORDS` on import without replacing a word another module already declares."""

from __future__ import annotations

from fieldapp import i18n

DISTRICT_WORDS: dict[str, tuple[str, str]] = {
    "devices": ("设备", "Devices"),
    "required": ("必填", "required"),
    "export_xlsx": ("导出 XLSX", "Export XLSX"),
    "month": ("月份", "Month"),
    "checklist": ("本月清单", "Checklist"),
    "status_refused": ("拒收", "refused"),
    "merge_log": ("合并日志", "Merge log"),
    "log_saved": ("日志已保存：{path}", "Log saved: {path}"),
    "enrol": ("登记", "Enrol"),
    "revoke": ("撤销", "Revoke"),
    "accept_bundle": ("接受同步包", "Accept bundle"),
    "device_file": ("密钥或同步包文件", "Key or bundle file"),
    "device": ("设备", "Device"),
    "worker": ("工作人员", "Worker"),
    "last_bundle": ("最后同步包", "Last bundle"),
    "fingerprint": ("指纹", "Fingerprint"),
    "enrolled": ("已登记", "enrolled"),
    "revoked": ("已撤销", "revoked"),
    "active": ("有效", "active"),
    "confirm_yes": ("确定", "Yes"),
    "confirm_no": ("取消", "No"),
    "enrol_question": (
        "登记设备 {distinct}（{label}）？\n社区：{community}  工作人员：{worker}\n指纹：{fp}\n"
        "请与设备上显示的指纹逐位核对。",
        "Enrol device {distinct} ({label})?\nCommunity: {community}  worker: {worker}\n"
        "Fingerprint: {fp}\nCompare it with the one shown on the device.",
    ),
    "accept_question": (
        "接受已撤销设备 {distinct} 的同步包 {file}（{period} 第{seq}个）？\n只接受被盗之前做出的包。",
        "Accept bundle {file} ({period} #{seq}) of revoked device {distinct}?\n"
        "Only bundles made before the theft.",
    ),
    "taken_from": ("采用", "Take"),
    "decided_by": ("审核人", "Decided by"),
    "transfer_word": ("迁移", "Transfer"),
    "undone": ("已撤销", "undone"),
    "already_undone": ("该决定已撤销", "This decision is already undone"),
    "deleted_side": ("已删除", "Deleted"),
    "pick_help": (
        "↑↓ 选字段，空格：该字段取自A、取自B或不指定；再按 A 或 B 决定其余字段",
        "↑↓ choose a field, space: take it from A, from B or neither; then A or B for the rest",
    ),
    "keep_help": (
        "↑↓ 选择保留的记录；S 同一人（其余注销），D 不同的人",
        "↑↓ choose the record that stays; S same person (the others cancelled), D different",
    ),
    "group_records": ("记录", "Records"),
    "count": ("条数", "Count"),
    "passphrase_needed": ("请输入区级私钥口令", "Type the district key's passphrase"),
    "accepted": ("已接受，可合并", "Accepted: it can be merged"),
    "sort": ("排序", "Sort"),
    "state": ("状态", "State"),
    "street": ("街道", "Street"),
    "reason_col": ("原因", "Reason"),
    "open_log": ("日志", "Log"),
    "subfolders": ("含子文件夹", "with subfolders"),
    "comment": ("备注", "Comment"),
    "undo": ("撤销决定", "Undo"),
    "pick_field": ("逐项选择", "Pick field"),
    "made_by": ("来源", "Made by"),
    "earlier_decision": ("此前的决定", "Earlier decision"),
    "what_happens": ("各选择的结果", "What each choice does"),
}


def register() -> None:
    """Add the words to `i18n.WORDS` (before a screen's bindings are translated)."""
    for key, words in DISTRICT_WORDS.items():
        i18n.WORDS.setdefault(key, words)
