/*!40101 SET NAMES binary*/;
/*!40014 SET FOREIGN_KEY_CHECKS=0*/;

/*!40103 SET TIME_ZONE='+00:00' */;
CREATE TABLE `demo_tasks` (
  `id` bigint(20) NOT NULL AUTO_INCREMENT,
  `task_id` varchar(36) NOT NULL,
  `name` varchar(255) NOT NULL,
  `args` longtext NOT NULL,
  `queue` varchar(255) NOT NULL,
  `received` datetime(6) NOT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `demo_tasks_task_id_uniq` (`task_id`)
) ENGINE=InnoDB AUTO_INCREMENT=301 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
