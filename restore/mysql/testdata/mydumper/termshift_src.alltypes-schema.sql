/*!40101 SET NAMES binary*/;
/*!40014 SET FOREIGN_KEY_CHECKS=0*/;

/*!40103 SET TIME_ZONE='+00:00' */;
CREATE TABLE `alltypes` (
  `id` bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  `d` decimal(20,6) DEFAULT NULL,
  `dbl` double DEFAULT NULL,
  `f` float DEFAULT NULL,
  `b` bit(5) DEFAULT NULL,
  `e` enum('a','b','c d') DEFAULT NULL,
  `s` set('x','y','z') DEFAULT NULL,
  `j` longtext CHARACTER SET utf8mb4 COLLATE utf8mb4_bin DEFAULT NULL CHECK (json_valid(`j`)),
  `dt` datetime(6) DEFAULT NULL,
  `ts` timestamp NULL DEFAULT NULL,
  `da` date DEFAULT NULL,
  `ti` time DEFAULT NULL,
  `y` year(4) DEFAULT NULL,
  `bl` blob DEFAULT NULL,
  `txt` text DEFAULT NULL,
  `v_len` int(11) GENERATED ALWAYS AS (char_length(`txt`)) VIRTUAL,
  `s_upper` varchar(300) GENERATED ALWAYS AS (ucase(left(`txt`,300))) STORED,
  PRIMARY KEY (`id`),
  UNIQUE KEY `d_uniq` (`d`,`id`),
  KEY `s_upper_idx` (`s_upper`(20))
) ENGINE=InnoDB AUTO_INCREMENT=1131 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
