-- The source schema the round-trip tests dump with the real tools. Run it
-- with the mariadb client inside an empty schema; tests replace termshift_src
-- with the schema's unique name.
SET NAMES utf8mb4;
SET foreign_key_checks = 0;

-- child first: tables reference each other in any order
CREATE TABLE child (
  id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  parent_id INT NOT NULL,
  note VARCHAR(50),
  KEY parent_idx (parent_id),
  CONSTRAINT child_parent FOREIGN KEY (parent_id) REFERENCES parent (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE parent (
  id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(50) NOT NULL,
  favourite_child INT NULL,
  KEY fav_idx (favourite_child),
  CONSTRAINT parent_fav FOREIGN KEY (favourite_child) REFERENCES child (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE alltypes (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  d DECIMAL(20,6),
  dbl DOUBLE,
  f FLOAT,
  b BIT(5),
  e ENUM('a','b','c d'),
  s SET('x','y','z'),
  j JSON,
  dt DATETIME(6),
  ts TIMESTAMP NULL DEFAULT NULL,
  da DATE,
  ti TIME,
  y YEAR,
  bl BLOB,
  txt TEXT CHARACTER SET utf8mb4,
  v_len INT AS (CHAR_LENGTH(txt)) VIRTUAL,
  s_upper VARCHAR(300) AS (UPPER(LEFT(txt, 300))) STORED,
  KEY s_upper_idx (s_upper(20)),
  UNIQUE KEY d_uniq (d, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 AUTO_INCREMENT=1000;

CREATE TABLE `order` (
  `select` INT NOT NULL PRIMARY KEY,
  `from` VARCHAR(20)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE `we-ird$name` (
  `col-1` INT,
  `col 2` VARCHAR(20)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE nopk (
  a INT,
  b VARCHAR(100),
  KEY a_idx (a)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE empty_table (
  id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  x VARCHAR(10)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 AUTO_INCREMENT=77;

CREATE TABLE audit (
  id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  msg VARCHAR(200)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

INSERT INTO parent (id, name, favourite_child) VALUES (1, 'p1', 2), (2, 'p2;x', NULL), (3, 'p''3', 3);
INSERT INTO child (id, parent_id, note) VALUES (1, 1, 'a'), (2, 1, 'b -- not a comment'), (3, 3, '/* nor this */'), (4, 2, '# nor this');

INSERT INTO alltypes (d, dbl, f, b, e, s, j, dt, ts, da, ti, y, bl, txt) VALUES
  (12345678901234.123456, 1.7976931348623157e308, 3.4e38, b'10101', 'c d', 'x,z', '{"k": "v;\\"q\\"", "n": [1, 2.5, null], "e": "😀"}',
   '2024-02-29 23:59:59.999999', '2038-01-19 03:14:07', '1000-01-01', '-838:59:59', 2155, NULL,
   CONCAT('semi;colon ''single'' "double" back\\slash', CHAR(10), 'newline -- dash /* c */ # hash ', CHAR(13), 'cr', CHAR(9), 'tab 😀 ñ 漢字')),
  (-0.000001, -2.2250738585072014e-308, -1.5, b'00000', 'a', '', '[]', '1970-01-01 00:00:01.000001', '1970-01-01 00:00:01', '9999-12-31', '00:00:00', 1901, '', ''),
  (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  (0, 0, 0, b'11111', 'b', 'x,y,z', '{"a": {"b": "DELIMITER ;;"}}', '2000-01-01 00:00:00', NULL, '2000-01-01', '12:34:56.000000', 2000, 'x', 'END;;\nDELIMITER ;');
-- every byte value in one BLOB
UPDATE alltypes SET bl = (
  SELECT GROUP_CONCAT(CHAR(n) ORDER BY n SEPARATOR '') FROM (
    SELECT a.n * 16 + b.n AS n FROM
      (SELECT 0 n UNION SELECT 1 UNION SELECT 2 UNION SELECT 3 UNION SELECT 4 UNION SELECT 5 UNION SELECT 6 UNION SELECT 7 UNION SELECT 8 UNION SELECT 9 UNION SELECT 10 UNION SELECT 11 UNION SELECT 12 UNION SELECT 13 UNION SELECT 14 UNION SELECT 15) a,
      (SELECT 0 n UNION SELECT 1 UNION SELECT 2 UNION SELECT 3 UNION SELECT 4 UNION SELECT 5 UNION SELECT 6 UNION SELECT 7 UNION SELECT 8 UNION SELECT 9 UNION SELECT 10 UNION SELECT 11 UNION SELECT 12 UNION SELECT 13 UNION SELECT 14 UNION SELECT 15) b
  ) bytes
) WHERE e = 'c d';
-- more rows so chunked dumps split the table
INSERT INTO alltypes (d, dbl, f, e, txt) SELECT seq / 7, seq * 1.5, seq, 'a', REPEAT('r;''"\\', seq % 13) FROM seq_1_to_120;

INSERT INTO `order` VALUES (1, 'from'), (2, NULL);
INSERT INTO `we-ird$name` VALUES (1, 'x'), (NULL, NULL), (1, 'x');
INSERT INTO nopk VALUES (1, 'dup'), (1, 'dup'), (2, NULL);
INSERT INTO empty_table (x) VALUES ('gone');
DELETE FROM empty_table;

CREATE VIEW parent_names AS SELECT p.id, p.name, COUNT(c.id) AS children FROM parent p LEFT JOIN child c ON c.parent_id = p.id GROUP BY p.id, p.name;

DELIMITER ;;
CREATE DEFINER=CURRENT_USER TRIGGER child_ai AFTER INSERT ON child FOR EACH ROW
BEGIN
  -- a comment; with a semicolon
  INSERT INTO audit (msg) VALUES (CONCAT('child ', NEW.id, '; "ok"'));
END;;
CREATE PROCEDURE count_children(IN pid INT, OUT n INT)
BEGIN
  /* ; */ SELECT COUNT(*) INTO n FROM `termshift_src`.child WHERE parent_id = pid;
END;;
CREATE FUNCTION greet(who VARCHAR(20)) RETURNS VARCHAR(40) DETERMINISTIC
BEGIN
  RETURN CONCAT('hi; ', who, ' \'#\'');
END;;
DELIMITER ;
INSERT INTO child (parent_id, note) VALUES (2, 'fires trigger');
