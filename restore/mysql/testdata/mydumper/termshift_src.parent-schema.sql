/*!40101 SET NAMES binary*/;
/*!40014 SET FOREIGN_KEY_CHECKS=0*/;

/*!40103 SET TIME_ZONE='+00:00' */;
CREATE TABLE `parent` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `name` varchar(50) NOT NULL,
  `favourite_child` int(11) DEFAULT NULL,
  PRIMARY KEY (`id`),
  KEY `fav_idx` (`favourite_child`),
  CONSTRAINT `parent_fav` FOREIGN KEY (`favourite_child`) REFERENCES `child` (`id`)
) ENGINE=InnoDB AUTO_INCREMENT=4 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
