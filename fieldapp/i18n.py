"""UI words in Chinese (default) and English; field labels come from the models, code labels from seed/."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from fieldapp import kinds, reference

if TYPE_CHECKING:
    from fieldapp import models

_LANG = ["zh"]

WORDS: dict[str, tuple[str, str]] = {
    "app_title": ("海陵区居家养老服务记录", "Hailing elderly-care field records"),
    "dashboard": ("首页", "Home"),
    "elders": ("老人档案", "Elders"),
    "home_visit": ("上门服务", "Home visits"),
    "assessment": ("能力评估", "Assessments"),
    "retrofit": ("适老化改造", "Retrofits"),
    "meals": ("助餐", "Meals"),
    "meal_point": ("助餐点", "Meal points"),
    "volunteer_event": ("志愿活动", "Volunteer events"),
    "volunteer": ("志愿者", "Volunteers"),
    "help": ("帮助", "Help"),
    "quit": ("退出", "Quit"),
    "save": ("保存", "Save"),
    "cancel": ("取消", "Cancel"),
    "new": ("新增", "New"),
    "edit": ("修改", "Edit"),
    "delete": ("删除", "Delete"),
    "open": ("打开", "Open"),
    "search": (
        "搜索：姓名、拼音首字母（如 zsf）或身份证后4位",
        "Search: name, pinyin initials (e.g. zsf) or last 4 of ID",
    ),
    "first_run": ("首次使用：设置本设备", "First run: set up this device"),
    "street": ("街道/镇", "Street / town"),
    "community": ("社区/村", "Community"),
    "worker": ("工作人员姓名", "Worker's name"),
    "start": ("开始使用", "Start"),
    "this_month": ("本月", "This month"),
    "this_year": ("本年", "This year"),
    "due_list": ("待探访/待评估", "Due visits and assessments"),
    "due_visit": ("待探访", "visit due"),
    "due_assessment": ("待评估", "assessment due"),
    "visits": ("上门服务人次", "home visits"),
    "elders_served": ("服务老人数", "elders served"),
    "assessments": ("能力评估", "assessments"),
    "retrofits": ("适老化改造", "retrofits"),
    "meal_servings": ("助餐人次", "meal servings"),
    "meal_capacity_month": ("助餐供客能力/月", "meal capacity/month"),
    "volunteer_events": ("志愿活动（已开展）", "volunteer events (done)"),
    "coverage": ("上门覆盖（入户）", "home-service coverage (in person)"),
    "assessed_80": ("80岁以上评估覆盖", "80+ assessed (12 months)"),
    "accepted_year": ("改造验收合格（本年）", "retrofits accepted (year)"),
    "target": ("目标", "target"),
    "community_share": ("本社区份额", "community share"),
    "name": ("姓名", "Name"),
    "gender": ("性别", "Gender"),
    "age": ("年龄", "Age"),
    "years_old": ("岁", " years"),
    "id_number": ("身份证号", "ID number"),
    "risk": ("风险", "Risk"),
    "status": ("状态", "Status"),
    "address": ("住址", "Address"),
    "recorded_by": ("记录人", "Recorded by"),
    "reason": ("事项", "Due for"),
    "last": ("上次", "Last"),
    "due": ("应于", "Due"),
    "overdue_days": ("逾期天数", "Days overdue"),
    "page": ("第 {page} 页，共 {total} 条", "page {page}, {total} in all"),
    "saved": ("已保存", "Saved"),
    "deleted": ("已删除", "Deleted"),
    "not_saved": ("未保存：请按提示修改", "Not saved: fix the fields shown"),
    "history": ("记录与版本", "History and versions"),
    "versions": ("修改记录（版本）", "Versions"),
    "moved_out": ("标记迁出", "Mark moved out"),
    "deceased": ("标记已故", "Mark deceased"),
    "confirm_delete": (
        "确定删除这条记录？（保留历史，可追溯）",
        "Delete this record? (its history is kept)",
    ),
    "yes": ("确定", "Yes"),
    "no": ("取消", "No"),
    "pick_elder": ("选择老人", "Pick an elder"),
    "date": ("日期", "Date"),
    "meal_grid": ("助餐登记（按日）", "Meal counts of a day"),
    "subsidized_total": ("补贴合计", "subsidized"),
    "grid_help": (
        "Tab 逐格移动；Ctrl+S 保存当天；回车打开该格明细（补贴类别）",
        "Tab moves cell by cell; Ctrl+S saves the day; Enter opens the details (subsidy categories)",
    ),
    "no_points": (
        "还没有助餐点：按 p（或下方按钮）添加助餐点",
        "No meal point yet: press p (or the button below) to add one",
    ),
    "advance": ("推进到下一状态", "Advance to next status"),
    "pipeline": ("改造进度", "Pipeline"),
    "add": ("添加", "Add"),
    "remove": ("移除", "Remove"),
    "qty": ("数量", "Qty"),
    "unit_price": ("单价", "Unit price"),
    "hours": ("时长（小时）", "Hours"),
    "points": ("积分", "Points"),
    "computed": ("自动计算", "computed"),
    "auto": ("（按规则自动）", "(automatic)"),
    "keys": ("按键", "Keys"),
    "import_roster": ("导入花名册", "Import a roster"),
    "app_version": (
        "本机 fieldapp 版本 {version}（区里据此知道哪台电脑需要更新）",
        "fieldapp {version} on this laptop (the district sees who needs the update)",
    ),
    "roster_imported": ("已导入 {n} 条记录", "{n} records imported"),
    "discard_unsaved": (
        "有未保存的修改，确定放弃？",
        "There are unsaved changes: discard them?",
    ),
    "confirm_delete_named": (
        "删除「{what}」？（保留历史，可恢复）",
        "Delete “{what}”? (history kept, can be restored)",
    ),
    "restore": ("恢复", "Restore"),
    "restored": ("已恢复", "Restored"),
    "show_deleted": ("已删除的", "Deleted ones"),
    "deleted_list": ("已删除（按 u 恢复）", "deleted (u restores)"),
    "revert": ("恢复到此版本", "Revert to this version"),
    "confirm_revert": (
        "把「{what}」恢复到 {when} 的版本？",
        "Revert “{what}” to the version of {when}?",
    ),
    "reverted": ("已恢复到所选版本", "Reverted to the chosen version"),
    "v_created": ("新建", "created"),
    "v_edited": ("修改", "edited"),
    "v_deleted": ("删除", "deleted"),
    "v_restored": ("恢复", "restored"),
    "when_saved": ("保存时间", "Saved at"),
    "action": ("操作", "Action"),
    "changes": ("修改内容（原 → 新）", "Changes (old → new)"),
    "clock_time": ("（时钟）", " (clock)"),
    "total_n": ("共 {n} 条", "{n} in all"),
    "due_page_of": ("第 {a}–{b} 条，共 {n} 条；[ ] 翻页", "{a}–{b} of {n}; [ ] pages"),
    "empty_dashboard": (
        "还没有老人档案：按 2 打开老人档案，再按 n 登记第一位老人（或 Ctrl+P 导入花名册）",
        "No elders yet: press 2 for Elders, then n to register the first one (or Ctrl+P to import a roster)",
    ),
    "empty_elders": (
        "还没有老人档案：按 n 登记第一位老人",
        "No elders yet: press n to register the first one",
    ),
    "bad_day": (
        "日期框中「{v}」不是有效日期（YYYY-MM-DD），未保存",
        "the date box holds “{v}”, not a date (YYYY-MM-DD): nothing saved",
    ),
    "day_not_loaded": (
        "日期已改为 {v}：请先按回车载入该日，未保存",
        "the date box now reads {v}: press Enter to load that day first; nothing saved",
    ),
    "over_capacity": (
        "{what} 超过助餐点日供餐能力，确定保存？",
        "{what} is above the point's daily capacity: save anyway?",
    ),
    "under_60": ("该老人未满60岁，确定登记？", "This person is under 60: register anyway?"),
    "other_instance": (
        "另一个 fieldapp 窗口正在使用此数据库：两边的修改都会保存，本窗口会自动刷新",
        "Another fieldapp window has this database open: both save, this one refreshes itself",
    ),
    "ledger": ("台账", "Ledger"),
    "ledger_month": ("导出台账：月份（YYYY-MM）", "Export the ledger: month (YYYY-MM)"),
    "ledger_written": ("台账已写入 {path}", "Ledger written to {path}"),
    "ledger_missing": (
        "台账导出功能未安装（fieldapp.ledger）",
        "The ledger export is not installed (fieldapp.ledger)",
    ),
    "filter": ("筛选", "Filter"),
    "date_from": ("起始日期", "From"),
    "date_to": ("截止日期", "To"),
    "filter_text": ("老人或服务人员", "Elder or worker"),
    "sort_hint": ("点列标题或按 s 排序", "s or a column header sorts"),
    "status_date": ("生效日期", "Effective date"),
    "moved_to": ("迁往社区（区内，可不填）", "Moved to (in the district, optional)"),
    "living": ("居住", "Living"),
    "hardship": ("困难类别", "Hardship"),
    "phone": ("电话", "Phone"),
    "no_record": ("没有选中的记录", "No record selected"),
    "elder_has_records": ("删除老人档案", "Delete the elder's file"),
    "none": ("无", "none"),
    "loading": ("正在加载…", "Loading…"),
    "empty": ("（无）", "(none)"),
    "records": ("条", "records"),
    "log_it": ("登记", "Log it"),
    "total_hours": ("总时长", "Total hours"),
    "sync": ("同步", "Sync"),
    "key_line": (
        "本设备密钥指纹 {device} · 区级公钥 {district}",
        "Device key {device} · district key {district}",
    ),
    "not_installed": (
        "未安装（fieldapp device-key install）",
        "not installed (fieldapp device-key install)",
    ),
    "key_file": ("区级私钥文件", "District key file"),
    "district_key_file": ("区级公钥文件", "District public key file"),
    "install_key": ("安装公钥", "Install key"),
    "key_installed": (
        "已安装区级公钥，指纹 {fp}：请与区级管理员核对",
        "District key installed, fingerprint {fp}: check it with the supervisor",
    ),
    "passphrase": ("口令", "Passphrase"),
    "allow_v1": ("接受未加密的 v1 包", "accept unencrypted v1"),
    "merge": ("合并", "Merge"),
    "short_home_service_coverage": ("上门覆盖率", "Coverage"),
    "short_retrofit_households": ("改造户数", "Retrofits"),
    "short_assessment_80_coverage": ("80+评估", "80+ assessed"),
    "short_meal_monthly_servings": ("助餐/月", "Meals/month"),
    "short_volunteer_events": ("志愿活动", "Vol. events"),
    "trend_coverage_pct": ("月度：上门覆盖率", "Monthly: coverage"),
    "trend_retrofit_households": ("改造户数（累计）", "Retrofits (cumulative)"),
    "trend_meal_servings": ("助餐人次", "Meal servings"),
    "trend_volunteer_events": ("志愿活动", "Volunteer events"),
    "indicators": ("指标", "Indicators"),
    "review": ("审核", "Review"),
    "area": ("区域", "Area"),
    "indicator": ("指标", "Indicator"),
    "numerator": ("分子", "Numerator"),
    "denominator": ("分母", "Denominator"),
    "value": ("数值", "Value"),
    "drill_down": ("下钻", "Drill down"),
    "drill_up": ("上一级", "Up"),
    "prev_year": ("上一年", "Previous year"),
    "next_year": ("下一年", "Next year"),
    "export_xlsx": ("导出 Excel", "Export XLSX"),
    "ops_line": (
        "{month}：上门 {visits} 人次/{workers} 人；困难老人探访 {hardship_visited}/{hardship_elders}；逾期 {overdue_followups}；冲突 {open_conflicts}；待审 {open_reviews}",
        "{month}: {visits} visits/{workers} workers; hardship visited {hardship_visited}/{hardship_elders}; overdue {overdue_followups}; conflicts {open_conflicts}; reviews {open_reviews}",
    ),
    "conflicts": ("版本冲突", "Conflicts"),
    "duplicates": ("疑似重复人员", "Possible duplicates"),
    "meal_collisions": ("助餐重复登记", "Meal-count collisions"),
    "rejected": ("拒收记录", "Rejected"),
    "kind": ("类型", "Kind"),
    "record": ("记录", "Record"),
    "reason_col": ("原因", "Reason"),
    "slot": ("助餐点|日期|餐次", "Point|date|meal"),
    "line": ("行", "Line"),
    "decided": ("已记录决定", "Decision recorded"),
    "keep_a": ("采用 A", "Keep A"),
    "keep_b": ("采用 B", "Keep B"),
    "same_person": ("是同一人", "Same person"),
    "different_person": ("不是同一人", "Different people"),
    "export": ("导出", "Export"),
    "export_title": (
        "导出同步包（自上次导出以来的全部记录）到文件夹，如U盘",
        "Export a sync bundle (everything since the last export) to a folder, e.g. a USB stick",
    ),
    "folder": ("文件夹", "Folder"),
    "full_export": ("全部重新导出", "everything again"),
    "exporting": ("正在导出…", "Exporting…"),
    "export_history": ("导出记录", "Past exports"),
    "period": ("月份", "Period"),
    "file": ("文件", "File"),
    "versions_n": ("个版本", "versions"),
    "scan": ("扫描", "Scan"),
    "toggle": ("选择/取消", "Select"),
    "select_new": ("选中全部新包", "Select all new"),
    "merge_selected": ("合并选中", "Merge selected"),
    "status_new": ("新", "new"),
    "status_already": ("已合并过", "already merged"),
    "status_invalid": ("无效", "invalid"),
    "status_merged": ("已合并", "merged"),
    "bundles_found": ("找到 {n} 个同步包", "{n} bundles found"),
    "nothing_selected": ("没有选中的同步包", "No bundle selected"),
    "import_summary": ("导入汇总", "Import summary"),
    "sum_new": ("新增", "new"),
    "sum_updated": ("更新", "updated"),
    "sum_unchanged": ("未变", "unchanged"),
    "sum_conflicts": ("冲突", "conflicts"),
    "sum_rejected": ("拒收", "rejected"),
    "missing_bundles": (
        "缺少同步包：设备 {device} 第 {seqs} 个",
        "Missing bundles: device {device}, seq {seqs}",
    ),
    "district_title": ("海陵区居家养老服务数据汇总（区级）", "Hailing district merge and review"),
    "total_points": ("总积分", "Total points"),
    "reload": ("刷新", "Reload"),
    "next_page": ("下一页", "Next page"),
    "prev_page": ("上一页", "Previous page"),
    "back": ("返回", "Back"),
    "search_key": ("搜索", "Search"),
    "palette": ("命令面板", "Command palette"),
}

# return bundles and office sync on the 同步 screen (SPEC §5b)
WORDS.update(
    {
        "for_colleagues": ("也给同事", "also for colleagues"),
        "import": ("导入", "Import"),
        "importing": ("正在导入…", "Importing…"),
        "imported_n": (
            "导入 {applied} 个，已导入过 {already} 个，未导入 {refused} 个",
            "{applied} imported, {already} already imported, {refused} refused",
        ),
        "nothing_to_import": (
            "文件夹里没有可导入的回传包或同事的同步包",
            "no return bundle or colleague's bundle in the folder",
        ),
        "district_has": ("区里已收到第 {seqs} 个同步包", "The district has bundles {seqs}"),
        "district_lacks": (
            "区里还没有第 {seqs} 个同步包（请交给区里）",
            "The district lacks bundles {seqs} (take them there)",
        ),
        "moved_read_only": (
            "已由区里迁往社区 {community}（本机只读）",
            "moved by the district to community {community} (read-only here)",
        ),
        "no_return_yet": (
            "尚未导入区里的回传包",
            "No return bundle from the district imported yet",
        ),
    }
)


def set_lang(lang: str | None) -> str:
    lang = (lang or os.environ.get("FIELDAPP_LANG") or "zh").lower()
    _LANG[0] = "en" if lang.startswith("en") else "zh"
    return _LANG[0]


def lang() -> str:
    return _LANG[0]


def t(key: str, **fmt: Any) -> str:
    zh, en = WORDS[key]
    text = en if _LANG[0] == "en" else zh
    return text.format(**fmt) if fmt else text


def field_label(model: type[Any], name: str) -> str:
    extra = model.model_fields[name].json_schema_extra or {}
    return str(extra.get("label_en" if _LANG[0] == "en" else "label_zh", name))


def field_label_kind(kind: str, name: str) -> str:
    from fieldapp import models

    return field_label(models.MODELS[kind], name)


def kind_label(kind: str) -> str:
    zh, en = kinds.LABELS[kind]
    return en if _LANG[0] == "en" else zh


def code_label(catalogue: str, code: str | None) -> str:
    if code is None:
        return ""
    return reference.load().label(catalogue, code, _LANG[0])


def problem_text(p: models.Problem) -> str:
    return p.en if _LANG[0] == "en" else p.zh
