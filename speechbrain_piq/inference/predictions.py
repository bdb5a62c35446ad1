"""``predictions.csv``: one row per interpreted file, kept across runs."""

import csv
import os

PREDICTIONS_FILE = "predictions.csv"
COLUMNS = ("file", "label", "probability", "output")


class PredictionsTable:
    """The rows of an output folder's ``predictions.csv``, by file.

    Rows an earlier run wrote stay; a file interpreted again gets its new
    row in place of its old one. ``save`` rewrites the whole table
    atomically, so an interrupted run leaves the last saved table whole.

    Arguments
    ---------
    folder : str
        The output folder (the table is ``folder/predictions.csv``).

    Raises
    ------
    ValueError
        If an existing ``predictions.csv`` has other columns.

    Example
    -------
    >>> folder = str(getfixture("tmp_path"))
    >>> table = PredictionsTable(folder)
    >>> table.add("/a/dog.wav", "dog", 0.93, "out/dog")
    >>> table.save()
    >>> again = PredictionsTable(folder)
    >>> again.add("/b/rain.wav", "rain", 0.5, "out/rain")
    >>> again.add("/a/dog.wav", "cat", 0.61, "out/dog")
    >>> again.save()
    >>> [row["label"] for row in PredictionsTable(folder).rows.values()]
    ['cat', 'rain']
    """

    def __init__(self, folder):
        self.path = os.path.join(folder, PREDICTIONS_FILE)
        self.rows = {}
        if os.path.isfile(self.path):
            self._read()

    def _read(self):
        with open(self.path, newline="", encoding="utf-8") as stream:
            reader = csv.DictReader(stream)
            if reader.fieldnames is None:
                return
            if tuple(reader.fieldnames) != COLUMNS:
                raise ValueError(
                    f"{self.path} has the columns {reader.fieldnames}, not "
                    f"{list(COLUMNS)}, so it was not written by this "
                    "command; choose another --out or move the file away"
                )
            for row in reader:
                self.rows[row["file"]] = row

    def output_folders(self):
        """``{file: output folder}`` of the rows so far.

        Returns
        -------
        dict
        """
        return {file: row["output"] for file, row in self.rows.items()}

    def add(self, file, label, probability, output):
        """Adds a file's row, or replaces the one it had.

        Arguments
        ---------
        file : str
            The audio file (absolute path).
        label : str
            The predicted class.
        probability : float
            Its probability.
        output : str
            The folder its interpretation was written to.
        """
        self.rows[file] = {
            "file": file,
            "label": label,
            "probability": f"{probability:.4f}",
            "output": output,
        }

    def save(self):
        """Writes the table (via a temporary file beside it)."""
        partial = f"{self.path}.partial"
        with open(partial, "w", newline="", encoding="utf-8") as stream:
            writer = csv.DictWriter(stream, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(self.rows.values())
        os.replace(partial, self.path)
