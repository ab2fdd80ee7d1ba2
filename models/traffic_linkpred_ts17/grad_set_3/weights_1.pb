
Bscore__con__dst__ipJ(²wp>lWÂ?ý?kÌ¿tü¾Ã?w>Ú??¿éQ»?kSš>