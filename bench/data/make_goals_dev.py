# Builds goals-dev.json: agent-style goals in the CLINC format.
# train: stored goals (one task label each); test: other wordings of a stored task;
# oos_test: near misses that must never be replayed as a stored task.
import json

T = {
    "py_calculator": (
        [
            "Create a Python calculator",
            "Build a calculator in Python",
            "Write a simple calculator script in python",
        ],
        [
            "make a python calculator",
            "create a calculator program in Python",
            "build me a python calculator script",
        ],
    ),
    "primes_script": (
        [
            "Write a Python script that prints the prime numbers below 100",
            "Create a script listing primes under 100 in python",
        ],
        [
            "write a python script to print primes below 100",
            "python script that prints all prime numbers under 100",
        ],
    ),
    "readme_summary": (
        ["Summarize the README file", "Give me a summary of README.md"],
        ["summarize README.md", "write a short summary of the readme"],
    ),
    "count_lines": (
        ["Count the lines of code in the src folder", "How many lines of code are in src"],
        ["count lines of code in src", "count how many lines of code the src folder has"],
    ),
    "git_status": (
        ["Show the git status of this repository", "What is the git status"],
        ["show git status", "print the git status of the repo"],
    ),
    "todo_list": (
        ["List all TODO comments in the project", "Find every TODO comment in the code"],
        ["find all TODO comments", "list the TODO comments in this project"],
    ),
    "unit_tests": (
        ["Run the unit tests", "Run the test suite with pytest"],
        ["run all unit tests", "run pytest on the test suite"],
    ),
    "csv_to_json": (
        ["Convert data.csv to JSON", "Turn the data.csv file into a JSON file"],
        ["convert data.csv into json", "transform data.csv to a json file"],
    ),
    "fizzbuzz": (
        ["Write a FizzBuzz program in Python", "Create fizzbuzz in python"],
        ["python fizzbuzz program", "make a fizzbuzz script in python"],
    ),
    "disk_usage": (
        ["Show disk usage of the current directory", "How much disk space does this folder use"],
        ["show the disk usage of this directory", "check disk usage of the current folder"],
    ),
    "haiku_agent": (
        ["Create a haiku poet agent", "Make an agent that writes haikus"],
        ["create an agent that writes haiku poems", "build a haiku poet agent"],
    ),
    "research_report": (
        [
            "Research AI trends and write a report",
            "Research the latest AI trends and produce a report",
        ],
        ["research recent AI trends and write a report about them"],
    ),
    "format_code": (
        ["Format the Python code with black", "Run black on the codebase"],
        ["format the python code using black", "run the black formatter on the code"],
    ),
    "http_server": (
        [
            "Start a simple HTTP server on port 8000",
            "Serve the current folder over HTTP on port 8000",
        ],
        ["start an http server on port 8000", "run a simple web server on port 8000"],
    ),
    "backup_notes": (
        [
            "Back up the notes folder to notes.tar.gz",
            "Create a tar.gz backup of the notes directory",
        ],
        [
            "backup the notes folder into notes.tar.gz",
            "make a tar.gz archive of the notes directory",
        ],
    ),
}
OOS = [
    "Create a JavaScript calculator",
    "Delete the Python calculator",
    "Test the Python calculator",
    "Create a Python calculator and then delete all files in the home directory",
    "Write a Python script that deletes the prime numbers file",
    "Write a Rust program that prints primes below 100",
    "Delete the README file",
    "Translate the README file to French",
    "Rewrite the README file",
    "Delete the src folder",
    "Count the words in the README",
    "Show the git log of this repository",
    "Reset the git repository to the last commit",
    "Remove all TODO comments in the project",
    "Do not run the unit tests",
    "Write new unit tests",
    "Convert data.json to CSV",
    "Delete data.csv",
    "Write a FizzBuzz program in Java",
    "Explain what FizzBuzz is",
    "Free up disk space in the current directory",
    "Delete the haiku poet agent",
    "Write a haiku",
    "Research AI trends but do not write a report",
    "Uninstall black",
    "Stop the HTTP server on port 8000",
    "Restore the notes folder from notes.tar.gz",
    "Delete the notes folder",
    "Email the notes folder to my boss",
    "Create a Python web scraper",
]
train = [[g, k] for k, (s, _) in T.items() for g in s]
test = [[g, k] for k, (_, q) in T.items() for g in q]
with open("goals-dev.json", "w") as out:
    json.dump(
        {"train": train, "test": test, "oos_test": [[g, "oos"] for g in OOS]},
        out,
        indent=0,
    )
print(len(train), len(test), len(OOS))
