"""`make fuzz`: seeded mutations of real images through the imaging jobs (see __main__)."""
