
Bscore__con__rev_src__ipJ(<EÖ>ÐÉ>^Ðî>#±½>Ã©>vMØ>Ž<Ó>TŽ>W»>Ú›Â>