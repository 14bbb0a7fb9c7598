"""Text for people and text from people: how runs look on every face (`present`), and how what a
user typed or a file holds is read and quoted safely (`user_text`). Standard library and rich only."""
