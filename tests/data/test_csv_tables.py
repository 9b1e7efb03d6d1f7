"""Table sources shipped as comma-separated CSV (as SOS-HL-1K's upstream release is): the same rows as the
tab-separated file, quoted commas and line breaks kept, CRLF accepted, and malformed rows named by line."""

from mentalglm.data.formats import RawRow, RowError, read_sos_hl_1k

TSV = "id\tlabel\tcomment\n7\t1\t我把药攒好了，这周末就走\n8\t0\t今天下雨，心情有点烦\n"
CSV = 'id,label,comment\r\n7,1,"我把药攒好了，这周末就走"\r\n8,0,今天下雨，心情有点烦\r\n'


def test_csv_and_tsv_give_the_same_rows(tmp_path):
    (tmp_path / "a.tsv").write_text(TSV, encoding="utf-8")
    (tmp_path / "a.csv").write_bytes(CSV.encode("utf-8"))
    expected = [RawRow(2, "我把药攒好了，这周末就走", ["高自杀风险"], extra={"source_id": "7"}),
                RawRow(3, "今天下雨，心情有点烦", ["低自杀风险"], extra={"source_id": "8"})]
    assert list(read_sos_hl_1k(tmp_path / "a.tsv")) == expected
    assert list(read_sos_hl_1k(tmp_path / "a.csv")) == expected


def test_quoted_commas_and_line_breaks_stay_in_the_post_and_lines_count_from_the_row_start(tmp_path):
    (tmp_path / "b.csv").write_text('id,label,comment\n1,1,"活着, 没意思\n真的"\n2,0,"还好, 吧"\n', encoding="utf-8")
    rows = list(read_sos_hl_1k(tmp_path / "b.csv"))
    assert [(r.line, r.post) for r in rows] == [(2, "活着, 没意思\n真的"), (4, "还好, 吧")]


def test_malformed_csv_rows_are_errors_at_their_lines(tmp_path):
    (tmp_path / "c.csv").write_text('id,label,comment\n1,1,好累\n2,3,好累\n3,1\n4,0,"  "\n5,0,还行\n',
                                    encoding="utf-8")
    rows = list(read_sos_hl_1k(tmp_path / "c.csv"))
    assert isinstance(rows[0], RawRow) and isinstance(rows[4], RawRow)
    assert [(r.line, r.reason) for r in rows[1:4]] == [
        (3, "label must be 0 or 1 (column label)"), (4, "expected 3 comma-separated columns, found 2"),
        (5, "empty post (column comment)")]
    assert all(isinstance(r, RowError) for r in rows[1:4])
