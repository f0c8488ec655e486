/*!40101 SET NAMES binary*/;
/*!40014 SET FOREIGN_KEY_CHECKS=0*/;

/*!40103 SET TIME_ZONE='+00:00' */;
CREATE TABLE `queue_submission` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `requester_id` varchar(128) NOT NULL,
  `lms_callback_url` varchar(128) NOT NULL,
  `queue_name` varchar(128) NOT NULL,
  `xqueue_header` varchar(1024) NOT NULL,
  `xqueue_body` longtext NOT NULL,
  `s3_keys` varchar(1024) NOT NULL,
  `s3_urls` varchar(1024) NOT NULL,
  `arrival_time` datetime(6) NOT NULL,
  `pull_time` datetime(6) DEFAULT NULL,
  `push_time` datetime(6) DEFAULT NULL,
  `return_time` datetime(6) DEFAULT NULL,
  `grader_id` varchar(128) NOT NULL,
  `pullkey` varchar(128) NOT NULL,
  `grader_reply` longtext NOT NULL,
  `num_failures` int(11) NOT NULL,
  `lms_ack` tinyint(1) NOT NULL,
  `retired` tinyint(1) NOT NULL,
  PRIMARY KEY (`id`),
  KEY `queue_submission_queue_name_idx` (`queue_name`),
  KEY `queue_submission_lms_callback_url_idx` (`lms_callback_url`),
  KEY `queue_submission_retired_idx` (`retired`)
) ENGINE=InnoDB AUTO_INCREMENT=401 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
