/*!40101 SET NAMES binary*/;
/*!40014 SET FOREIGN_KEY_CHECKS=0*/;
/*!40103 SET TIME_ZONE='+00:00' */;
INSERT INTO `child` VALUES
(1,1,"a"),
(2,1,"b -- not a comment"),
(3,3,"/* nor this */"),
(4,2,"# nor this"),
(5,2,"fires trigger");
