/*!40101 SET NAMES binary*/;
/*!40014 SET FOREIGN_KEY_CHECKS=0*/;
/*!40103 SET TIME_ZONE='+00:00' */;
INSERT INTO `parent` VALUES
(1,"p1",2),
(2,"p2;x",NULL),
(3,"p\'3",3);
