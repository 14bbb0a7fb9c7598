"""Text that comes from users, read and quoted safely (`user_text`): the ground every layer stands
on, the store included. How runs look to people is `tuitune.runs.present`."""
