"""Readers and writers for coding made elsewhere: CSV span/unit coding files and Taguette projects."""
