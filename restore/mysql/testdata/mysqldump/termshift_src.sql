/*M!999999\- enable the sandbox mode */ 
-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)
--
-- Host: 127.0.0.1    Database: termshift_src
-- ------------------------------------------------------
-- Server version	10.11.19-MariaDB-0+deb12u1

/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;
/*!40101 SET @OLD_CHARACTER_SET_RESULTS=@@CHARACTER_SET_RESULTS */;
/*!40101 SET @OLD_COLLATION_CONNECTION=@@COLLATION_CONNECTION */;
/*!40101 SET NAMES utf8mb4 */;
/*!40103 SET @OLD_TIME_ZONE=@@TIME_ZONE */;
/*!40103 SET TIME_ZONE='+00:00' */;
/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;
/*!40014 SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0 */;
/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;
/*!40111 SET @OLD_SQL_NOTES=@@SQL_NOTES, SQL_NOTES=0 */;

--
-- Current Database: `termshift_src`
--

CREATE DATABASE /*!32312 IF NOT EXISTS*/ `termshift_src` /*!40100 DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci */;

USE `termshift_src`;

--
-- Table structure for table `alltypes`
--

DROP TABLE IF EXISTS `alltypes`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
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
/*!40101 SET character_set_client = @saved_cs_client */;

--
-- Dumping data for table `alltypes`
--

LOCK TABLES `alltypes` WRITE;
/*!40000 ALTER TABLE `alltypes` DISABLE KEYS */;
INSERT INTO `alltypes` VALUES
(1000,12345678901234.123456,1.7976931348623157e308,3.4e38,'','c d','x,z','{\"k\": \"v;\\\"q\\\"\", \"n\": [1, 2.5, null], \"e\": \"üòÄ\"}','2024-02-29 23:59:59.999999','2038-01-19 03:14:07','1000-01-01','-838:59:59',2155,'\0	\n\r\Z !\"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~ÄÅÇÉÑÖÜáàâäãåçéèêëíìîïñóòôöõúùûü†°¢£§•¶ß®©™´¨≠ÆØ∞±≤≥¥µ∂∑∏π∫ªºΩæø¿¡¬√ƒ≈∆«»… ÀÃÕŒœ–—“”‘’÷◊ÿŸ⁄€‹›ﬁﬂ‡·‚„‰ÂÊÁËÈÍÎÏÌÓÔÒÚÛÙıˆ˜¯˘˙˚¸˝˛ˇ','semi;colon \'single\' \"double\" back\\slash\nnewline -- dash /* c */ # hash \rcr	tab üòÄ √± Êº¢Â≠ó',85,'SEMI;COLON \'SINGLE\' \"DOUBLE\" BACK\\SLASH\nNEWLINE -- DASH /* C */ # HASH \rCR	TAB üòÄ √ë Êº¢Â≠ó'),
(1001,-0.000001,-2.2250738585072014e-308,-1.5,'\0','a','','[]','1970-01-01 00:00:01.000001','1970-01-01 00:00:01','9999-12-31','00:00:00',1901,'','',0,''),
(1002,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL),
(1003,0.000000,0,0,'','b','x,y,z','{\"a\": {\"b\": \"DELIMITER ;;\"}}','2000-01-01 00:00:00.000000',NULL,'2000-01-01','12:34:56',2000,'x','END;;\nDELIMITER ;',17,'END;;\nDELIMITER ;'),
(1004,0.142857,1.5,1,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\',5,'R;\'\"\\'),
(1005,0.285714,3,2,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\',10,'R;\'\"\\R;\'\"\\'),
(1006,0.428571,4.5,3,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\',15,'R;\'\"\\R;\'\"\\R;\'\"\\'),
(1007,0.571429,6,4,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',20,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1008,0.714286,7.5,5,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',25,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1009,0.857143,9,6,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',30,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1010,1.000000,10.5,7,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',35,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1011,1.142857,12,8,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',40,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1012,1.285714,13.5,9,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',45,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1013,1.428571,15,10,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',50,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1014,1.571429,16.5,11,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',55,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1015,1.714286,18,12,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',60,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1016,1.857143,19.5,13,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'',0,''),
(1017,2.000000,21,14,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\',5,'R;\'\"\\'),
(1018,2.142857,22.5,15,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\',10,'R;\'\"\\R;\'\"\\'),
(1019,2.285714,24,16,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\',15,'R;\'\"\\R;\'\"\\R;\'\"\\'),
(1020,2.428571,25.5,17,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',20,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1021,2.571429,27,18,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',25,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1022,2.714286,28.5,19,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',30,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1023,2.857143,30,20,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',35,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1024,3.000000,31.5,21,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',40,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1025,3.142857,33,22,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',45,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1026,3.285714,34.5,23,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',50,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1027,3.428571,36,24,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',55,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1028,3.571429,37.5,25,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',60,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1029,3.714286,39,26,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'',0,''),
(1030,3.857143,40.5,27,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\',5,'R;\'\"\\'),
(1031,4.000000,42,28,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\',10,'R;\'\"\\R;\'\"\\'),
(1032,4.142857,43.5,29,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\',15,'R;\'\"\\R;\'\"\\R;\'\"\\'),
(1033,4.285714,45,30,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',20,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1034,4.428571,46.5,31,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',25,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1035,4.571429,48,32,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',30,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1036,4.714286,49.5,33,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',35,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1037,4.857143,51,34,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',40,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1038,5.000000,52.5,35,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',45,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1039,5.142857,54,36,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',50,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1040,5.285714,55.5,37,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',55,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1041,5.428571,57,38,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',60,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1042,5.571429,58.5,39,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'',0,''),
(1043,5.714286,60,40,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\',5,'R;\'\"\\'),
(1044,5.857143,61.5,41,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\',10,'R;\'\"\\R;\'\"\\'),
(1045,6.000000,63,42,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\',15,'R;\'\"\\R;\'\"\\R;\'\"\\'),
(1046,6.142857,64.5,43,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',20,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1047,6.285714,66,44,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',25,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1048,6.428571,67.5,45,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',30,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1049,6.571429,69,46,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',35,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1050,6.714286,70.5,47,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',40,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1051,6.857143,72,48,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',45,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1052,7.000000,73.5,49,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',50,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1053,7.142857,75,50,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',55,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1054,7.285714,76.5,51,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',60,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1055,7.428571,78,52,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'',0,''),
(1056,7.571429,79.5,53,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\',5,'R;\'\"\\'),
(1057,7.714286,81,54,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\',10,'R;\'\"\\R;\'\"\\'),
(1058,7.857143,82.5,55,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\',15,'R;\'\"\\R;\'\"\\R;\'\"\\'),
(1059,8.000000,84,56,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',20,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1060,8.142857,85.5,57,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',25,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1061,8.285714,87,58,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',30,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1062,8.428571,88.5,59,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',35,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1063,8.571429,90,60,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',40,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1064,8.714286,91.5,61,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',45,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1065,8.857143,93,62,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',50,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1066,9.000000,94.5,63,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',55,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1067,9.142857,96,64,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',60,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1068,9.285714,97.5,65,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'',0,''),
(1069,9.428571,99,66,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\',5,'R;\'\"\\'),
(1070,9.571429,100.5,67,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\',10,'R;\'\"\\R;\'\"\\'),
(1071,9.714286,102,68,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\',15,'R;\'\"\\R;\'\"\\R;\'\"\\'),
(1072,9.857143,103.5,69,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',20,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1073,10.000000,105,70,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',25,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1074,10.142857,106.5,71,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',30,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1075,10.285714,108,72,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',35,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1076,10.428571,109.5,73,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',40,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1077,10.571429,111,74,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',45,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1078,10.714286,112.5,75,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',50,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1079,10.857143,114,76,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',55,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1080,11.000000,115.5,77,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',60,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1081,11.142857,117,78,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'',0,''),
(1082,11.285714,118.5,79,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\',5,'R;\'\"\\'),
(1083,11.428571,120,80,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\',10,'R;\'\"\\R;\'\"\\'),
(1084,11.571429,121.5,81,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\',15,'R;\'\"\\R;\'\"\\R;\'\"\\'),
(1085,11.714286,123,82,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',20,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1086,11.857143,124.5,83,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',25,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1087,12.000000,126,84,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',30,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1088,12.142857,127.5,85,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',35,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1089,12.285714,129,86,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',40,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1090,12.428571,130.5,87,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',45,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1091,12.571429,132,88,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',50,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1092,12.714286,133.5,89,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',55,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1093,12.857143,135,90,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',60,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1094,13.000000,136.5,91,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'',0,''),
(1095,13.142857,138,92,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\',5,'R;\'\"\\'),
(1096,13.285714,139.5,93,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\',10,'R;\'\"\\R;\'\"\\'),
(1097,13.428571,141,94,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\',15,'R;\'\"\\R;\'\"\\R;\'\"\\'),
(1098,13.571429,142.5,95,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',20,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1099,13.714286,144,96,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',25,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1100,13.857143,145.5,97,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',30,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1101,14.000000,147,98,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',35,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1102,14.142857,148.5,99,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',40,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1103,14.285714,150,100,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',45,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1104,14.428571,151.5,101,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',50,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1105,14.571429,153,102,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',55,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1106,14.714286,154.5,103,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',60,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1107,14.857143,156,104,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'',0,''),
(1108,15.000000,157.5,105,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\',5,'R;\'\"\\'),
(1109,15.142857,159,106,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\',10,'R;\'\"\\R;\'\"\\'),
(1110,15.285714,160.5,107,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\',15,'R;\'\"\\R;\'\"\\R;\'\"\\'),
(1111,15.428571,162,108,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',20,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1112,15.571429,163.5,109,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',25,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1113,15.714286,165,110,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',30,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1114,15.857143,166.5,111,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',35,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1115,16.000000,168,112,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',40,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1116,16.142857,169.5,113,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',45,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1117,16.285714,171,114,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',50,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1118,16.428571,172.5,115,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',55,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1119,16.571429,174,116,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\r;\'\"\\',60,'R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\R;\'\"\\'),
(1120,16.714286,175.5,117,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'',0,''),
(1121,16.857143,177,118,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\',5,'R;\'\"\\'),
(1122,17.000000,178.5,119,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\',10,'R;\'\"\\R;\'\"\\'),
(1123,17.142857,180,120,NULL,'a',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'r;\'\"\\r;\'\"\\r;\'\"\\',15,'R;\'\"\\R;\'\"\\R;\'\"\\');
/*!40000 ALTER TABLE `alltypes` ENABLE KEYS */;
UNLOCK TABLES;

--
-- Table structure for table `audit`
--

DROP TABLE IF EXISTS `audit`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `audit` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `msg` varchar(200) DEFAULT NULL,
  PRIMARY KEY (`id`)
) ENGINE=InnoDB AUTO_INCREMENT=2 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

--
-- Dumping data for table `audit`
--

LOCK TABLES `audit` WRITE;
/*!40000 ALTER TABLE `audit` DISABLE KEYS */;
INSERT INTO `audit` VALUES
(1,'child 5; \"ok\"');
/*!40000 ALTER TABLE `audit` ENABLE KEYS */;
UNLOCK TABLES;

--
-- Table structure for table `child`
--

DROP TABLE IF EXISTS `child`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `child` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `parent_id` int(11) NOT NULL,
  `note` varchar(50) DEFAULT NULL,
  PRIMARY KEY (`id`),
  KEY `parent_idx` (`parent_id`),
  CONSTRAINT `child_parent` FOREIGN KEY (`parent_id`) REFERENCES `parent` (`id`)
) ENGINE=InnoDB AUTO_INCREMENT=6 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

--
-- Dumping data for table `child`
--

LOCK TABLES `child` WRITE;
/*!40000 ALTER TABLE `child` DISABLE KEYS */;
INSERT INTO `child` VALUES
(1,1,'a'),
(2,1,'b -- not a comment'),
(3,3,'/* nor this */'),
(4,2,'# nor this'),
(5,2,'fires trigger');
/*!40000 ALTER TABLE `child` ENABLE KEYS */;
UNLOCK TABLES;
/*!50003 SET @saved_cs_client      = @@character_set_client */ ;
/*!50003 SET @saved_cs_results     = @@character_set_results */ ;
/*!50003 SET @saved_col_connection = @@collation_connection */ ;
/*!50003 SET character_set_client  = utf8mb4 */ ;
/*!50003 SET character_set_results = utf8mb4 */ ;
/*!50003 SET collation_connection  = utf8mb4_general_ci */ ;
/*!50003 SET @saved_sql_mode       = @@sql_mode */ ;
/*!50003 SET sql_mode              = 'STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION' */ ;
DELIMITER ;;
/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`127.0.0.1`*/ /*!50003 TRIGGER child_ai AFTER INSERT ON child FOR EACH ROW
BEGIN
  
  INSERT INTO audit (msg) VALUES (CONCAT('child ', NEW.id, '; "ok"'));
END 
*/;;
DELIMITER ;
/*!50003 SET sql_mode              = @saved_sql_mode */ ;
/*!50003 SET character_set_client  = @saved_cs_client */ ;
/*!50003 SET character_set_results = @saved_cs_results */ ;
/*!50003 SET collation_connection  = @saved_col_connection */ ;

--
-- Table structure for table `empty_table`
--

DROP TABLE IF EXISTS `empty_table`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `empty_table` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `x` varchar(10) DEFAULT NULL,
  PRIMARY KEY (`id`)
) ENGINE=InnoDB AUTO_INCREMENT=78 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

--
-- Dumping data for table `empty_table`
--

LOCK TABLES `empty_table` WRITE;
/*!40000 ALTER TABLE `empty_table` DISABLE KEYS */;
/*!40000 ALTER TABLE `empty_table` ENABLE KEYS */;
UNLOCK TABLES;

--
-- Table structure for table `nopk`
--

DROP TABLE IF EXISTS `nopk`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `nopk` (
  `a` int(11) DEFAULT NULL,
  `b` varchar(100) DEFAULT NULL,
  KEY `a_idx` (`a`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

--
-- Dumping data for table `nopk`
--

LOCK TABLES `nopk` WRITE;
/*!40000 ALTER TABLE `nopk` DISABLE KEYS */;
INSERT INTO `nopk` VALUES
(1,'dup'),
(1,'dup'),
(2,NULL);
/*!40000 ALTER TABLE `nopk` ENABLE KEYS */;
UNLOCK TABLES;

--
-- Table structure for table `order`
--

DROP TABLE IF EXISTS `order`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `order` (
  `select` int(11) NOT NULL,
  `from` varchar(20) DEFAULT NULL,
  PRIMARY KEY (`select`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

--
-- Dumping data for table `order`
--

LOCK TABLES `order` WRITE;
/*!40000 ALTER TABLE `order` DISABLE KEYS */;
INSERT INTO `order` VALUES
(1,'from'),
(2,NULL);
/*!40000 ALTER TABLE `order` ENABLE KEYS */;
UNLOCK TABLES;

--
-- Table structure for table `parent`
--

DROP TABLE IF EXISTS `parent`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `parent` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `name` varchar(50) NOT NULL,
  `favourite_child` int(11) DEFAULT NULL,
  PRIMARY KEY (`id`),
  KEY `fav_idx` (`favourite_child`),
  CONSTRAINT `parent_fav` FOREIGN KEY (`favourite_child`) REFERENCES `child` (`id`)
) ENGINE=InnoDB AUTO_INCREMENT=4 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

--
-- Dumping data for table `parent`
--

LOCK TABLES `parent` WRITE;
/*!40000 ALTER TABLE `parent` DISABLE KEYS */;
INSERT INTO `parent` VALUES
(1,'p1',2),
(2,'p2;x',NULL),
(3,'p\'3',3);
/*!40000 ALTER TABLE `parent` ENABLE KEYS */;
UNLOCK TABLES;

--
-- Temporary table structure for view `parent_names`
--

DROP TABLE IF EXISTS `parent_names`;
/*!50001 DROP VIEW IF EXISTS `parent_names`*/;
SET @saved_cs_client     = @@character_set_client;
SET character_set_client = utf8mb4;
/*!50001 CREATE VIEW `parent_names` AS SELECT
 NULL AS `id`,
 NULL AS `name`,
 NULL AS `children` */;
SET character_set_client = @saved_cs_client;

--
-- Table structure for table `we-ird$name`
--

DROP TABLE IF EXISTS `we-ird$name`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `we-ird$name` (
  `col-1` int(11) DEFAULT NULL,
  `col 2` varchar(20) DEFAULT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

--
-- Dumping data for table `we-ird$name`
--

LOCK TABLES `we-ird$name` WRITE;
/*!40000 ALTER TABLE `we-ird$name` DISABLE KEYS */;
INSERT INTO `we-ird$name` VALUES
(1,'x'),
(NULL,NULL),
(1,'x');
/*!40000 ALTER TABLE `we-ird$name` ENABLE KEYS */;
UNLOCK TABLES;

--
-- Dumping events for database 'termshift_src'
--

--
-- Dumping routines for database 'termshift_src'
--
/*!50003 SET @saved_sql_mode       = @@sql_mode */ ;
/*!50003 SET sql_mode              = 'STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION' */ ;
/*!50003 DROP FUNCTION IF EXISTS `greet` */;
/*!50003 SET @saved_cs_client      = @@character_set_client */ ;
/*!50003 SET @saved_cs_results     = @@character_set_results */ ;
/*!50003 SET @saved_col_connection = @@collation_connection */ ;
/*!50003 SET character_set_client  = utf8mb4 */ ;
/*!50003 SET character_set_results = utf8mb4 */ ;
/*!50003 SET collation_connection  = utf8mb4_general_ci */ ;
DELIMITER ;;
CREATE DEFINER=`root`@`127.0.0.1` FUNCTION `greet`(who VARCHAR(20)) RETURNS varchar(40) CHARSET utf8mb4 COLLATE utf8mb4_general_ci
    DETERMINISTIC
BEGIN
  RETURN CONCAT('hi; ', who, ' \'#\'');
END
;;
DELIMITER ;
/*!50003 SET sql_mode              = @saved_sql_mode */ ;
/*!50003 SET character_set_client  = @saved_cs_client */ ;
/*!50003 SET character_set_results = @saved_cs_results */ ;
/*!50003 SET collation_connection  = @saved_col_connection */ ;
/*!50003 SET @saved_sql_mode       = @@sql_mode */ ;
/*!50003 SET sql_mode              = 'STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION' */ ;
/*!50003 DROP PROCEDURE IF EXISTS `count_children` */;
/*!50003 SET @saved_cs_client      = @@character_set_client */ ;
/*!50003 SET @saved_cs_results     = @@character_set_results */ ;
/*!50003 SET @saved_col_connection = @@collation_connection */ ;
/*!50003 SET character_set_client  = utf8mb4 */ ;
/*!50003 SET character_set_results = utf8mb4 */ ;
/*!50003 SET collation_connection  = utf8mb4_general_ci */ ;
DELIMITER ;;
CREATE DEFINER=`root`@`127.0.0.1` PROCEDURE `count_children`(IN pid INT, OUT n INT)
BEGIN
   SELECT COUNT(*) INTO n FROM `termshift_src`.child WHERE parent_id = pid;
END
;;
DELIMITER ;
/*!50003 SET sql_mode              = @saved_sql_mode */ ;
/*!50003 SET character_set_client  = @saved_cs_client */ ;
/*!50003 SET character_set_results = @saved_cs_results */ ;
/*!50003 SET collation_connection  = @saved_col_connection */ ;

--
-- Current Database: `termshift_src`
--

USE `termshift_src`;

--
-- Final view structure for view `parent_names`
--

/*!50001 DROP VIEW IF EXISTS `parent_names`*/;
/*!50001 SET @saved_cs_client          = @@character_set_client */;
/*!50001 SET @saved_cs_results         = @@character_set_results */;
/*!50001 SET @saved_col_connection     = @@collation_connection */;
/*!50001 SET character_set_client      = utf8mb4 */;
/*!50001 SET character_set_results     = utf8mb4 */;
/*!50001 SET collation_connection      = utf8mb4_general_ci */;
/*!50001 CREATE ALGORITHM=UNDEFINED */
/*!50013 DEFINER=`root`@`127.0.0.1` SQL SECURITY DEFINER */
/*!50001 VIEW `parent_names` AS select `p`.`id` AS `id`,`p`.`name` AS `name`,count(`c`.`id`) AS `children` from (`parent` `p` left join `child` `c` on(`c`.`parent_id` = `p`.`id`)) group by `p`.`id`,`p`.`name` */;
/*!50001 SET character_set_client      = @saved_cs_client */;
/*!50001 SET character_set_results     = @saved_cs_results */;
/*!50001 SET collation_connection      = @saved_col_connection */;
/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;

/*!40101 SET SQL_MODE=@OLD_SQL_MODE */;
/*!40014 SET FOREIGN_KEY_CHECKS=@OLD_FOREIGN_KEY_CHECKS */;
/*!40014 SET UNIQUE_CHECKS=@OLD_UNIQUE_CHECKS */;
/*!40101 SET CHARACTER_SET_CLIENT=@OLD_CHARACTER_SET_CLIENT */;
/*!40101 SET CHARACTER_SET_RESULTS=@OLD_CHARACTER_SET_RESULTS */;
/*!40101 SET COLLATION_CONNECTION=@OLD_COLLATION_CONNECTION */;
/*!40111 SET SQL_NOTES=@OLD_SQL_NOTES */;

-- Dump completed on 2026-11-21 22:32:48
