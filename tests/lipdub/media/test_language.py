from lipdub.media.language import iso639_2, language_name


def test_catalog_languages_become_three_letter_codes():
    assert iso639_2("de") == "deu" and iso639_2("DE") == "deu"
    assert iso639_2("pt-BR") == "por" and iso639_2("zh_Hant") == "zho"
    assert iso639_2("deu") == "deu" and iso639_2("yue") == "yue"  # three letters are kept
    assert iso639_2("") == iso639_2(None) == iso639_2("x1") == "und"


def test_titles_name_the_language():
    assert language_name("ja") == "Japanese" and language_name("fra") == "French"
    assert language_name("yue") == "yue" and language_name(None) == "undetermined"
