"""The Simplified Chinese catalogue is complete, well-formed, compiled, and used by the pages."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import polib
import pytest
from django.test import Client
from django.utils import translation

LC_MESSAGES = Path(__file__).resolve().parents[2] / "locale" / "zh_Hans" / "LC_MESSAGES"
PO_PATH = LC_MESSAGES / "django.po"
MO_PATH = LC_MESSAGES / "django.mo"

# %(name)s, %(count)d, %(value)-10s ... (as Python's %-formatting and blocktranslate write them).
NAMED_PERCENT = re.compile(r"%\((\w+)\)[#0\- +]*(?:\d+|\*)?(?:\.\d+)?[diouxXeEfFgGcrsa]")
# %s, %d, %5.2f ... without a name; "%%" is a literal percent sign.
POSITIONAL_PERCENT = re.compile(r"%(?!\()[#0\- +]*(?:\d+|\*)?(?:\.\d+)?[diouxXeEfFgGcrsa]")
# {{ name }} / {{ name|filter }} as written in a template, should one reach the catalogue.
TEMPLATE_VARIABLE = re.compile(r"\{\{\s*([\w.]+)\s*(?:\|[^}]*)?\}\}")


def _placeholders(text: str, *, python_format: bool) -> tuple[frozenset[str], Counter[str]]:
    """Named placeholders (as a set: they may repeat) and positional ones (counted, in order)."""
    without_literal_percent = text.replace("%%", "")
    named = {f"%({name})" for name in NAMED_PERCENT.findall(without_literal_percent)}
    named |= {f"{{{{ {name} }}}}" for name in TEMPLATE_VARIABLE.findall(text)}
    positional: Counter[str] = Counter()
    if python_format:
        positional.update(m.group(0) for m in POSITIONAL_PERCENT.finditer(without_literal_percent))
    return frozenset(named), positional


def _named_conversions(text: str) -> frozenset[str]:
    """Named placeholders with their conversion, so %(count)d turned into %(count)s is caught."""
    return frozenset(m.group(0) for m in NAMED_PERCENT.finditer(text.replace("%%", "")))


def _placeholder_problem(source: str, translation_text: str, *, python_format: bool) -> str | None:
    expected = _placeholders(source, python_format=python_format)
    found = _placeholders(translation_text, python_format=python_format)
    if expected != found:
        return f"placeholders {sorted(expected[0])} {dict(expected[1])} in the msgid, " + (
            f"{sorted(found[0])} {dict(found[1])} in the msgstr"
        )
    if _named_conversions(source) != _named_conversions(translation_text):
        return (
            f"placeholder conversions {sorted(_named_conversions(source))} in the msgid, "
            f"{sorted(_named_conversions(translation_text))} in the msgstr"
        )
    return None


def _entry_problems(entry: polib.POEntry) -> list[str]:
    problems: list[str] = []
    if "fuzzy" in entry.flags:
        problems.append("marked fuzzy")
    python_format = "python-format" in entry.flags
    if entry.msgid_plural:
        if not entry.msgstr_plural:
            problems.append("no plural msgstr")
        for index, text in sorted(entry.msgstr_plural.items()):
            if not text.strip():
                problems.append(f"empty msgstr[{index}]")
                continue
            # Form 0 is the singular, unless (as in Chinese) one form serves every n.
            singular = int(index) == 0 and len(entry.msgstr_plural) > 1
            source = entry.msgid if singular else entry.msgid_plural
            problem = _placeholder_problem(source, text, python_format=python_format)
            if problem:
                problems.append(f"msgstr[{index}]: {problem}")
    elif not entry.msgstr.strip():
        problems.append("empty msgstr")
    else:
        problem = _placeholder_problem(entry.msgid, entry.msgstr, python_format=python_format)
        if problem:
            problems.append(problem)
    return problems


def _key(entry: polib.POEntry | polib.MOEntry) -> tuple[str | None, str]:
    return entry.msgctxt or None, entry.msgid


def _value(entry: polib.POEntry | polib.MOEntry) -> tuple[str, ...]:
    if entry.msgid_plural:
        return tuple(text for _, text in sorted(entry.msgstr_plural.items()))
    return (entry.msgstr,)


@pytest.fixture(scope="module")
def po() -> polib.POFile:
    assert PO_PATH.is_file(), f"{PO_PATH} is missing: run makemessages --locale zh_Hans"
    return polib.pofile(str(PO_PATH))


def test_header_declares_simplified_chinese(po: polib.POFile) -> None:
    assert not po.metadata_is_fuzzy, "the catalogue header is still marked fuzzy"
    assert po.metadata.get("Language") == "zh_Hans"
    assert po.metadata.get("Plural-Forms", "").replace(" ", "") == "nplurals=1;plural=0;"
    assert "charset=UTF-8" in po.metadata.get("Content-Type", "")


def test_every_entry_is_translated_with_the_same_placeholders(po: polib.POFile) -> None:
    entries = [entry for entry in po if not entry.obsolete]
    assert entries, "the catalogue has no messages"
    failures = []
    for entry in entries:
        for problem in _entry_problems(entry):
            where = entry.occurrences[0][0] if entry.occurrences else "?"
            failures.append(f"{where}: {entry.msgid!r}: {problem}")
    assert not failures, "django.po needs work:\n" + "\n".join(failures)


def test_compiled_catalogue_matches_the_po_file(po: polib.POFile) -> None:
    assert MO_PATH.is_file(), f"{MO_PATH} is missing: run compilemessages --locale zh_Hans"
    mo = polib.mofile(str(MO_PATH))
    expected = {_key(entry): _value(entry) for entry in po.translated_entries()}
    compiled = {_key(entry): _value(entry) for entry in mo if entry.msgid}
    stale = [
        f"missing or different: {key[1]!r}"
        for key in expected
        if compiled.get(key) != expected[key]
    ]
    stale += [f"only in the .mo: {key[1]!r}" for key in compiled.keys() - expected.keys()]
    assert not stale, (
        "django.mo is older than django.po: run compilemessages --locale zh_Hans\n"
        + "\n".join(sorted(stale))
    )


def test_python_strings_are_translated_at_run_time() -> None:
    from portal.models import AuditAction, Role

    with translation.override("zh-hans"):
        assert str(Role.PURCHASER.label) == "采购员"
        assert str(AuditAction.LOGIN.label) == "登录"
        assert (
            translation.ngettext("%(counter)s open invitation", "%(counter)s open invitations", 3)
            % {"counter": 3}
            == "3 个待接受的邀请"
        )
    with translation.override("en"):
        assert str(Role.PURCHASER.label) == "Purchaser"


@pytest.mark.django_db
def test_login_page_in_chinese(client: Client) -> None:
    response = client.get("/login/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="zh-hans">' in html
    assert "忘记密码" in html  # "Forgot your password?"
    assert ">登录</button>" in html
    assert "企业电子卡采购平台" in html
    assert "Forgot your password?" not in html
    assert "E-card Portal" not in html


@pytest.mark.django_db
def test_login_page_in_english(client: Client) -> None:
    response = client.get("/login/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="en">' in html
    assert "Forgot your password?" in html
    assert "E-card Portal" in html
    assert "忘记密码" not in html
    assert "企业电子卡采购平台" not in html


# Msgids whose Chinese is rightly the msgid itself, each with its reason.
SAME_IN_CHINESE = {
    "API": "the interface's name, written so in Chinese documentation",
    "CSV": "a file format",
    "XLSX": "a file format",
    "PDF": "a file format",
    "SHA-256": "the checksum's name",
    "TOTP": "the standard's name",
    "UUID": "an identifier format",
    "t0": "TOTP's parameter name (RFC 6238)",
}
# Msgids made only of placeholders and punctuation have nothing to translate.
FORMAT_ONLY = re.compile(r"^(?:%\(\w+\)[sd]|%[sd]|\{\w*\}|[\s·:,;/()|…+-])*$")


def test_no_msgid_is_left_in_english(po: polib.POFile) -> None:
    """A msgstr that is empty or the msgid itself shows English on a Chinese page."""
    untranslated = []
    for entry in po:
        if entry.obsolete or FORMAT_ONLY.match(entry.msgid):
            continue
        texts = list(entry.msgstr_plural.values()) if entry.msgid_plural else [entry.msgstr]
        for text in texts:
            if not text.strip() or (
                text.strip() == entry.msgid.strip() and entry.msgid not in SAME_IN_CHINESE
            ):
                where = entry.occurrences[0][0] if entry.occurrences else "?"
                context = f"[{entry.msgctxt}] " if entry.msgctxt else ""
                untranslated.append(f"{where}: {context}{entry.msgid!r} -> {text!r}")
    assert not untranslated, "untranslated in django.po:\n" + "\n".join(untranslated)


# docs/glossary.md: words that must not appear in any translation, and the word to use.
GLOSSARY_FORBIDDEN = {
    "公司": "企业",
    "授信额度": "信用额度",
    "兑换码": "卡密",
    "券码": "卡密",
    "激活码": "卡密",
    "收件人": "收卡人",
    "领卡人": "收卡人",
    "持卡人": "收卡人",
    "预开发票": "形式发票",
    "贷项通知单": "红字发票",
    "兑换": "消费",
    "帐": "账",
    "登陆": "登录",
    "电子邮件": "邮箱",
}
# The words the review named, by (context, msgid): what the translation must be.
GLOSSARY_FIXED = {
    (None, "payment"): "收款记录",  # the Payment model in the operators' admin
    (None, "payments"): "收款记录",
    ("payment method", "payment"): "付款方式",
    ("statement line", "Payment"): "付款",
    (None, "Payment"): "付款方式",  # the order's and upload's payment method
    ("card model", "cards"): "卡片",
    (None, "card"): "卡片",
    (None, "cards"): "卡数",  # a count of cards
    ("count", "Cards"): "卡数",
    ("downloaded by", "By"): "下载人",
    ("downloaded by", "by"): "下载人",
    ("uploaded by", "By"): "上传人",
    ("allocated by", "By"): "操作人",
    (None, "allocation"): "核销记录",
    (None, "Redeemed"): "已消费",
}


def test_translations_follow_the_glossary(po: polib.POFile) -> None:
    entries = {_key(entry): entry for entry in po if not entry.obsolete}
    problems = []
    for entry in entries.values():
        for text in _value(entry):
            for wrong, right in GLOSSARY_FORBIDDEN.items():
                if wrong in text:
                    problems.append(f"{entry.msgid!r}: {text!r} has {wrong}; write {right}")
    for key, expected in GLOSSARY_FIXED.items():
        entry = entries.get(key)
        if entry is None:
            problems.append(f"{key} is no longer in the catalogue: update GLOSSARY_FIXED")
        elif entry.msgstr != expected:
            problems.append(f"{key}: {entry.msgstr!r}, the glossary says {expected!r}")
    assert not problems, "django.po does not follow docs/glossary.md:\n" + "\n".join(problems)


def test_our_catalogue_wins_over_the_apps_own() -> None:
    """LOCALE_PATHS comes before installed apps, so our Chinese replaces django-axes' (none),
    django-otp's (none) and Django's where Django 6.1 has no zh_Hans yet."""
    from axes.models import AccessAttempt
    from django.db.models.fields import BLANK_CHOICE_LABEL
    from django_otp.plugins.otp_totp.models import TOTPDevice

    with translation.override("zh-hans"):
        assert str(AccessAttempt._meta.verbose_name_plural) == "登录尝试记录"
        assert str(TOTPDevice._meta.verbose_name) == "TOTP 验证设备"
        assert str(TOTPDevice._meta.get_field("digits").verbose_name) == "位数"
        assert str(BLANK_CHOICE_LABEL) == "- 请选择 -"
        assert translation.gettext("Filter by %(field_name)s") == "按%(field_name)s筛选"
