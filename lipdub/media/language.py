"""Language tags for output tracks: a catalog's language (ISO 639-1 "de", a BCP 47 tag "pt-BR",
or ISO 639-2 "deu") -> the three-letter ISO 639-2 code that MP4, MOV and Matroska store.

Containers store three letters; a two-letter code written there is read as "und" by players. The
table covers the languages dubs are commonly delivered in; a three-letter code is kept as given.
"""
from __future__ import annotations

__all__ = ["container_language", "iso639_2", "language_name"]

# ISO 639-1 -> (ISO 639-2/T, English name). 639-2/T ("deu", not the bibliographic "ger") is what
# MP4's mdhd box and Matroska expect.
_LANGUAGES = {
    "ar": ("ara", "Arabic"), "bg": ("bul", "Bulgarian"), "bn": ("ben", "Bengali"), "ca": ("cat", "Catalan"),
    "cs": ("ces", "Czech"), "da": ("dan", "Danish"), "de": ("deu", "German"), "el": ("ell", "Greek"),
    "en": ("eng", "English"), "es": ("spa", "Spanish"), "et": ("est", "Estonian"), "eu": ("eus", "Basque"),
    "fa": ("fas", "Persian"), "fi": ("fin", "Finnish"), "fil": ("fil", "Filipino"), "fr": ("fra", "French"),
    "ga": ("gle", "Irish"), "gl": ("glg", "Galician"), "he": ("heb", "Hebrew"), "hi": ("hin", "Hindi"),
    "hr": ("hrv", "Croatian"), "hu": ("hun", "Hungarian"), "id": ("ind", "Indonesian"), "is": ("isl", "Icelandic"),
    "it": ("ita", "Italian"), "ja": ("jpn", "Japanese"), "ko": ("kor", "Korean"), "lt": ("lit", "Lithuanian"),
    "lv": ("lav", "Latvian"), "ms": ("msa", "Malay"), "nb": ("nob", "Norwegian Bokmal"), "nl": ("nld", "Dutch"),
    "no": ("nor", "Norwegian"), "pl": ("pol", "Polish"), "pt": ("por", "Portuguese"), "ro": ("ron", "Romanian"),
    "ru": ("rus", "Russian"), "sk": ("slk", "Slovak"), "sl": ("slv", "Slovenian"), "sr": ("srp", "Serbian"),
    "sv": ("swe", "Swedish"), "sw": ("swa", "Swahili"), "ta": ("tam", "Tamil"), "te": ("tel", "Telugu"),
    "th": ("tha", "Thai"), "tr": ("tur", "Turkish"), "uk": ("ukr", "Ukrainian"), "ur": ("urd", "Urdu"),
    "vi": ("vie", "Vietnamese"), "zh": ("zho", "Chinese"),
}
_BY_CODE3 = {code3: name for code3, name in _LANGUAGES.values()}


def iso639_2(language: str | None) -> str:
    """The three-letter code for a catalog language; "und" when it is empty or unknown."""
    primary = (language or "").strip().lower().replace("_", "-").split("-")[0]
    if primary in _LANGUAGES:
        return _LANGUAGES[primary][0]
    if len(primary) == 3 and primary.isalpha():
        return primary
    return "und"


def language_name(language: str | None) -> str:
    """An English name for the track title ("German"), or the code itself when unknown."""
    code3 = iso639_2(language)
    return _BY_CODE3.get(code3, (language or "undetermined").strip() or "undetermined")


# MOV stores languages as QuickTime (Macintosh) codes, whose table FFmpeg keys by these older
# (ISO 639-2/B) forms; the 639-2/T code is lost there (measured with PyAV's FFmpeg 8.1: "deu"
# reads back as no language, "ger" as "ger"). Languages that table lacks cannot be tagged in MOV.
_MOV_CODES = {"deu": "ger", "ell": "gre", "eus": "baq", "fas": "per", "isl": "ice", "msa": "may", "nld": "dut", "zho": "chi"}
_NOT_IN_MOV = frozenset({"fil", "gle", "glg", "hrv", "nob", "srp", "swe"})


def container_language(code3: str, suffix: str) -> str | None:
    """The language code to write in a container (".mp4", ".mov", ".mkv"); None where that
    container cannot store the language (MOV's table lacks it): the track title still names it."""
    if suffix != ".mov":
        return code3
    if code3 in _NOT_IN_MOV:
        return None
    return _MOV_CODES.get(code3, code3)
