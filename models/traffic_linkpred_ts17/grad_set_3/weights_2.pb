
Bscore__con__rev_src__ipJ(5¿ÂÝ¿ž™»r g?’>Åñ©¿‰NA¾HŠ„>Vú$?Hyà?