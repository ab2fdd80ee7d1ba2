
Bscore__con__rev_src__ipJ(Rz¿Ây¾ ”@±ø¾²Š½Y4)?ÏÆ¿£@nš¿Š¦>