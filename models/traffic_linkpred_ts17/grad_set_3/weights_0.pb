
Bscore__ip__src__conJ(œNj¿âŒ¿n$¿ç¨‡?4Ð‘¾›>¼<CÂn¼E¶™¿ê7<6¾