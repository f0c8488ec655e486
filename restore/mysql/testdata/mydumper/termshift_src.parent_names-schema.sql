/*!40101 SET NAMES binary*/;
CREATE TABLE `parent_names`(
`id` int,
`name` int,
`children` int
)ENGINE=MyISAM;
