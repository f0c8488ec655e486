package mysql

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRename(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"CREATE ALGORITHM=UNDEFINED DEFINER=`root`@`127.0.0.1` SQL SECURITY DEFINER VIEW `v` AS select `src`.`t`.`a` from `src`.`t`",
			"CREATE ALGORITHM=UNDEFINED  SQL SECURITY DEFINER VIEW `v` AS select `dst`.`t`.`a` from `dst`.`t`"},
		{"/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER x AFTER INSERT ON t FOR EACH ROW INSERT INTO src.log VALUES ('src.t') */",
			"/*!50003 CREATE*/ /*!50017 */ /*!50003 TRIGGER x AFTER INSERT ON t FOR EACH ROW INSERT INTO `dst`.log VALUES ('src.t') */"},
		{"CREATE DEFINER=CURRENT_USER() PROCEDURE p() SELECT 1 -- src.t\n", "CREATE  PROCEDURE p() SELECT 1 -- src.t\n"},
		{"CREATE DEFINER = root@localhost FUNCTION f() RETURNS INT RETURN (SELECT COUNT(*) FROM `src` . `t`)",
			"CREATE  FUNCTION f() RETURNS INT RETURN (SELECT COUNT(*) FROM `dst` . `t`)"},
		{"SELECT src, `src` FROM srcx.t, `srcx`.t", "SELECT src, `src` FROM srcx.t, `srcx`.t"},
	} {
		if got := string(rename([]byte(tc.in), "src", "dst")); got != tc.want {
			t.Errorf("rename(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		in   string
		kind kind
		obj  object
	}{
		{"INSERT INTO `we-ird$name` VALUES (1)", kInsert, object{Name: "we-ird$name"}},
		{"INSERT IGNORE INTO other.t VALUES (1)", kInsert, object{Schema: "other", Name: "t"}},
		{"/*!40101 SET NAMES binary*/", kSet, object{}},
		{"USE `db`", kUse, object{Name: "db"}},
		{"CREATE DATABASE /*!32312 IF NOT EXISTS*/ `db` /*!40100 DEFAULT CHARACTER SET utf8mb4 */", kCreateDB, object{Name: "db"}},
		{"CREATE TABLE IF NOT EXISTS `order` (a INT)", kCreateTable, object{Name: "order"}},
		{"DROP TABLE IF EXISTS `x`.`y`", kDropTable, object{Schema: "x", Name: "y"}},
		{"/*!40000 ALTER TABLE `t` DISABLE KEYS */", kAlterKeys, object{Name: "t"}},
		{"/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER `x` AFTER", kCreateTrigger, object{Name: "x"}},
		{"/*!50001 CREATE ALGORITHM=UNDEFINED */ /*!50013 DEFINER=`root`@`%` SQL SECURITY DEFINER */ /*!50001 VIEW `v` AS", kCreateView, object{Name: "v"}},
		{"CREATE DEFINER=`root`@`%` FUNCTION `f`() RETURNS int", kCreateRoutine, object{Name: "f"}},
		{"LOCK TABLES `t` WRITE", kLockTables, object{}},
		{"-- only a comment", kOther, object{}},
	} {
		k, obj := classify([]byte(tc.in))
		if k != tc.kind || obj != tc.obj {
			t.Errorf("classify(%q) = %v %+v, want %v %+v", tc.in, k, obj, tc.kind, tc.obj)
		}
	}
}

func TestDeferKeys(t *testing.T) {
	in := "CREATE TABLE `t` (\n  `id` int(11) NOT NULL AUTO_INCREMENT,\n  `a` int(11) DEFAULT NULL,\n  `b` text,\n" +
		"  PRIMARY KEY (`id`),\n  UNIQUE KEY `a_u` (`a`,`id`),\n  KEY `id_a` (`id`,`a`),\n  KEY `b_i` (`b`(10)),\n  FULLTEXT KEY `ft` (`b`)\n) ENGINE=InnoDB"
	create, add := deferKeys(in, nil)
	wantCreate := "CREATE TABLE `t` (\n  `id` int(11) NOT NULL AUTO_INCREMENT,\n  `a` int(11) DEFAULT NULL,\n  `b` text,\n" +
		"  PRIMARY KEY (`id`),\n  KEY `id_a` (`id`,`a`),\n  FULLTEXT KEY `ft` (`b`)\n) ENGINE=InnoDB"
	if diff := cmp.Diff(create, wantCreate); diff != "" {
		t.Errorf("create (-got +want):\n%s", diff)
	}
	if want := "ADD UNIQUE KEY `a_u` (`a`,`id`), ADD KEY `b_i` (`b`(10))"; add != want {
		t.Errorf("add = %q, want %q", add, want)
	}
	fk := "CREATE TABLE `t` (\n  `id` int NOT NULL,\n  `u` int,\n  `m` int,\n  PRIMARY KEY (`id`),\n  UNIQUE KEY `u_m` (`u`,`m`),\n  KEY `m` (`m`),\n" +
		"  CONSTRAINT `t_u` FOREIGN KEY (`u`) REFERENCES `users` (`id`)\n) ENGINE=InnoDB"
	create, add = deferKeys(fk, map[string]bool{"u": true})
	wantCreate = "CREATE TABLE `t` (\n  `id` int NOT NULL,\n  `u` int,\n  `m` int,\n  PRIMARY KEY (`id`),\n  UNIQUE KEY `u_m` (`u`,`m`),\n" +
		"  CONSTRAINT `t_u` FOREIGN KEY (`u`) REFERENCES `users` (`id`)\n) ENGINE=InnoDB"
	if diff := cmp.Diff(create, wantCreate); diff != "" || add != "ADD KEY `m` (`m`)" {
		t.Errorf("deferKeys(foreign key) = %q (-got +want):\n%s", add, diff)
	}
	last := "CREATE TABLE `t` (\n  `a` int,\n  KEY `a` (`a`)\n) ENGINE=InnoDB"
	if create, add := deferKeys(last, nil); create != "CREATE TABLE `t` (\n  `a` int\n) ENGINE=InnoDB" || add != "ADD KEY `a` (`a`)" {
		t.Errorf("deferKeys(last key) = %q, %q", create, add)
	}
}
